"""Why reverse mode memoizes, as a table: the chain rule path by path against backprop, counted,
checked and timed for MLPs of growing depth; what ``deltaprop memo-demo`` prints.

The counts and the two ways of computing the gradients (path by path, and the engine) are in
:mod:`.memo_counts` (its names are re-exported here); the memory/time trade of recomputing in
backward (:class:`deltaprop.nn.Checkpointed`) is :func:`.recompute.checkpoint_tradeoff`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..checks import check_int
from ..errors import ConfigError
from ..viz.output import figure_png, write_output
from .memo_counts import (
    check_activation,
    engine_gradients,
    engine_runner,
    memo_count,
    mlp_sizes,
    naive_count,
    naive_gradients,
    path_count,
    random_mlp,
)
from .recompute import checkpoint_tradeoff, format_tradeoff
from .timing import best_time


def memo_table(
    max_depth: int = 6,
    widths: Sequence[int] = (2, 3, 4),
    activation: str = "tanh",
    naive_limit: int = 200_000,
    seed: int = 0,
    plot: str | None = None,
    show: bool = True,
) -> list[dict[str, Any]]:
    """Counts for depth 1..max_depth and each width; naive vs engine gradients computed, checked
    and timed wherever the naive count is at most ``naive_limit`` (else those columns are None).

    Row keys: depth, width, paths (input-to-output), naive_mults, memo_mults, ratio,
    verified (naive == engine, np.allclose in float64), naive_s, engine_s (best of a few runs).
    Prints the table when ``show``; writes a PNG against depth when ``plot`` is a path.
    """
    max_depth = check_int(max_depth, "max_depth")
    widths = [check_int(w, "width") for w in widths]
    activation = check_activation(activation)
    rows = []
    for width in widths:
        for depth in range(1, max_depth + 1):
            sizes = mlp_sizes(depth, width)
            naive, memo = naive_count(sizes), memo_count(sizes)
            row: dict[str, Any] = {
                "depth": depth, "width": width, "paths": path_count(sizes),
                "naive_mults": naive, "memo_mults": memo, "ratio": naive / memo,
                "verified": None, "naive_s": None, "engine_s": None,
            }  # fmt: skip
            if naive <= naive_limit:
                weights, biases, x, t = random_mlp(sizes, seed)
                gw, gb, counted = naive_gradients(weights, biases, x, t, activation)
                engine_run = engine_runner(weights, biases, x, t, activation)
                ew, eb = engine_run()
                row["verified"] = counted == naive and all(
                    np.allclose(p, q, rtol=1e-10, atol=1e-12) for p, q in zip(gw + gb, ew + eb)
                )
                row["naive_s"] = best_time(
                    lambda w=weights, b=biases, x=x, t=t: naive_gradients(w, b, x, t, activation)
                )
                row["engine_s"] = best_time(engine_run)
            rows.append(row)
    if show:
        print(format_table(rows))
    if plot:
        plot_counts(rows, plot)
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The table as aligned text, one line per row."""
    head = ["depth", "width", "paths", "naive_mults", "memo_mults", "ratio", "verified",
            "naive_ms", "engine_ms"]  # fmt: skip
    lines = [head]
    for r in rows:
        lines.append([
            str(r["depth"]), str(r["width"]), str(r["paths"]), str(r["naive_mults"]),
            str(r["memo_mults"]), f"{r['ratio']:.1f}",
            "-" if r["verified"] is None else ("yes" if r["verified"] else "NO"),
            "-" if r["naive_s"] is None else f"{r['naive_s'] * 1e3:.3f}",
            "-" if r["engine_s"] is None else f"{r['engine_s'] * 1e3:.3f}",
        ])  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(line, widths)) for line in lines)


def plot_counts(rows: Sequence[dict[str, Any]], path: str) -> None:
    """Naive and memo multiplication counts against depth (log scale), one pair per width."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - the [plot] extra
        raise ConfigError(
            "plot: matplotlib is not installed (pip install deltaprop[plot])"
        ) from None
    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for width in sorted({r["width"] for r in rows}):
        sub = [r for r in rows if r["width"] == width]
        depths = [r["depth"] for r in sub]
        line = ax.plot(
            depths, [r["naive_mults"] for r in sub], "o-", label=f"path by path, w={width}"
        )
        ax.plot(depths, [r["memo_mults"] for r in sub], "s--", color=line[0].get_color(),
                label=f"reverse mode, w={width}")  # fmt: skip
    ax.set_yscale("log")
    ax.set_xlabel("depth (Linear layers)")
    ax.set_ylabel("chain-rule multiplications")
    ax.set_title("Gradient of every parameter, one example")
    ax.legend(fontsize=7)
    fig.tight_layout()
    try:
        write_output(path, lambda: figure_png(fig, dpi=None))
    except ConfigError as exc:  # name the option the user gave
        raise ConfigError(f"plot: {str(exc).removeprefix('path: ')}") from None


def run_demo(
    max_depth: int = 6,
    width: int | None = None,
    plot: str | None = None,
    checkpoint: bool = False,
    activation: str = "tanh",
) -> list[dict[str, Any]]:
    """What ``deltaprop memo-demo`` prints: the table (widths 2, 3, 4 unless ``width``), and with
    ``checkpoint`` the trade-off of :func:`checkpoint_tradeoff` on its default deep MLP."""
    widths = (2, 3, 4) if width is None else (width,)
    rows = memo_table(max_depth=max_depth, widths=widths, activation=activation, plot=plot)
    if plot:
        print(f"wrote {plot}")
    if checkpoint:
        print(format_tradeoff(checkpoint_tradeoff()))
    return rows


__all__ = [
    "engine_gradients", "format_table", "memo_count", "memo_table", "mlp_sizes", "naive_count",
    "naive_gradients", "path_count", "plot_counts", "random_mlp", "run_demo",
]  # fmt: skip
