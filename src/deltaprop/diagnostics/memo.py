"""Why reverse mode memoizes: the chain rule path by path against backprop, counted and timed.

The network is an MLP ``sizes = [n_0, n_1, ..., n_D]`` (D Linear layers, an activation f after
every layer but the last) on ONE example, with the loss ``L = 0.5 * sum((y - t)^2)``.

Path by path (no memo). The gradient of a weight ``W^l[i, j]`` is a sum over every path from
unit j of layer l to an output unit k; each path multiplies its local derivatives separately::

    dL/dW^l[i,j] = sum over (j_{l+1}, ..., j_D) of
              a^{l-1}_i * f'(z^l_j) * W^{l+1}[j, j_{l+1}] * ... * W^D[j_{D-1}, j_D] * (y-t)_{j_D}

    P_l = n_{l+1} * ... * n_D paths, each 2(D - l) + 1 multiplications (a bias: 2(D - l))
    naive = sum_l  P_l * (n_{l-1} n_l (2(D-l) + 1) + n_l 2(D-l))

Reverse mode (memo): the delta of each layer is computed once and reused by every weight and
every layer below it::

    delta^D = y - t                                 0 multiplications
    dW^l = a^{l-1}^T delta^l                        B n_{l-1} n_l
    delta^{l-1} = (delta^l W^l^T) * f'(z^{l-1})     B n_l n_{l-1} + B n_{l-1}   (l >= 2)
    memo = sum_l B n_{l-1} n_l + sum_{l>=2} B (n_l n_{l-1} + n_{l-1})

Both count only the multiplications of the chain rule (upstream gradient times local
derivative); the local derivatives themselves (f'(z), which both methods need once per unit) and
additions are not counted. The naive count grows like width^depth; the memo count like
depth * width^2.

Functions: :func:`naive_count`, :func:`memo_count`, :func:`naive_gradients` (actually walks
every path, with itertools), :func:`engine_gradients`, :func:`memo_table` (the table, printed;
``plot=PATH`` draws it against depth), :func:`deltaprop.diagnostics.recompute.checkpoint_tradeoff`
(memory and time of :class:`deltaprop.nn.Checkpointed` on a deep MLP).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError

_ACTIVATIONS = ("tanh", "sigmoid")


def mlp_sizes(depth: int, width: int, n_in: int | None = None, n_out: int = 1) -> list[int]:
    """``[n_in] + [width] * (depth - 1) + [n_out]``: ``depth`` Linear layers (n_in defaults to
    width)."""
    depth = _positive_int(depth, "depth")
    width = _positive_int(width, "width")
    return [width if n_in is None else n_in] + [width] * (depth - 1) + [n_out]


def naive_count(sizes: Sequence[int]) -> int:
    """Chain-rule multiplications of the path-by-path gradient of every weight and bias."""
    sizes = _check_sizes(sizes)
    depth = len(sizes) - 1
    total = 0
    for layer in range(1, depth + 1):
        paths = math.prod(sizes[layer + 1 :])
        hops = 2 * (depth - layer)
        total += paths * sizes[layer - 1] * sizes[layer] * (hops + 1)  # weights
        total += paths * sizes[layer] * hops  # biases
    return total


def memo_count(sizes: Sequence[int], batch: int = 1) -> int:
    """Chain-rule multiplications of one reverse-mode backward pass (gradients reused)."""
    sizes = _check_sizes(sizes)
    batch = _positive_int(batch, "batch")
    total = 0
    for layer in range(len(sizes) - 1, 0, -1):
        n_in, n_out = sizes[layer - 1], sizes[layer]
        total += batch * n_in * n_out  # dW = a^T delta (matmul m*n*k)
        if layer > 1:
            total += batch * n_out * n_in + batch * n_in  # delta W^T, then * f'(z)
    return total


def path_count(sizes: Sequence[int]) -> int:
    """Number of input-to-output paths through the network: n_0 * n_1 * ... * n_D."""
    return math.prod(_check_sizes(sizes))


def random_mlp(sizes: Sequence[int], seed: int = 0) -> tuple[list, list, np.ndarray, np.ndarray]:
    """Float64 weights (W^l shaped (n_{l-1}, n_l)), biases, one input x and one target t."""
    sizes = _check_sizes(sizes)
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0, 1 / math.sqrt(a), (a, b)) for a, b in zip(sizes, sizes[1:])]
    biases = [rng.normal(0, 0.1, b) for b in sizes[1:]]
    return weights, biases, rng.normal(size=sizes[0]), rng.normal(size=sizes[-1])


def naive_gradients(weights, biases, x, t, activation: str = "tanh"):
    """Gradients of ``L = 0.5 * sum((y - t)^2)`` by the chain rule applied path by path.

    Every path from a parameter to an output unit multiplies its local derivatives on its own
    (plain NumPy scalars and itertools, no reuse between paths). Returns
    ``(weight_grads, bias_grads, multiplications)``; the count equals :func:`naive_count`.
    """
    activation = _check_activation(activation)
    depth = len(weights)
    sizes = [weights[0].shape[0]] + [w.shape[1] for w in weights]
    # forward: a[0] = x, a[l] = f(z^l); fprime[l] = f'(z^l) (the local derivatives)
    a = [np.asarray(x, dtype=np.float64)]
    fprime: list[Any] = [None]
    for layer, (w, b) in enumerate(zip(weights, biases), start=1):
        z = a[-1] @ w + b
        if layer == depth:
            a.append(z)
            fprime.append(None)
        elif activation == "tanh":
            y = np.tanh(z)
            a.append(y)
            fprime.append(1 - y * y)
        else:
            y = 0.5 * (1 + np.tanh(0.5 * z))
            a.append(y)
            fprime.append(y * (1 - y))
    dy = a[-1] - np.asarray(t, dtype=np.float64)  # dL/dy: a subtraction, no multiplication

    mults = 0
    grad_w = [np.zeros_like(w) for w in weights]
    grad_b = [np.zeros_like(b) for b in biases]
    for layer in range(1, depth + 1):
        tails = list(itertools.product(*[range(n) for n in sizes[layer + 1 :]]))
        for j in range(sizes[layer]):
            for tail in tails:
                # local derivatives along the path j -> tail[0] -> ... -> output unit
                nodes = (j,) + tail
                factors = []
                for m in range(layer, depth):
                    factors.append(fprime[m][nodes[m - layer]])
                    factors.append(weights[m][nodes[m - layer], nodes[m - layer + 1]])
                factors.append(dy[nodes[-1]])
                path = factors[0]
                for f in factors[1:]:
                    path = path * f
                    mults += 1
                grad_b[layer - 1][j] += path
                for i in range(sizes[layer - 1]):
                    # the weight's own path: a^{l-1}_i times the same factors, multiplied anew
                    prod = a[layer - 1][i]
                    for f in factors:
                        prod = prod * f
                        mults += 1
                    grad_w[layer - 1][i, j] += prod
    return grad_w, grad_b, mults


def engine_gradients(weights, biases, x, t, activation: str = "tanh"):
    """The same gradients from deltaprop's engine (nn.Linear in float64 + backward)."""
    run = _engine_runner(weights, biases, x, t, activation)
    return run()


def _engine_runner(weights, biases, x, t, activation: str):
    """Build the model once; the returned function runs forward + backward and returns the
    (weight_grads, bias_grads) as NumPy arrays."""
    from .. import nn
    from ..autograd.tensor import Tensor

    activation = _check_activation(activation)
    layers: list = []
    for layer, (w, b) in enumerate(zip(weights, biases), start=1):
        lin = nn.Linear(w.shape[0], w.shape[1], dtype="float64")
        lin.weight.data[...] = w
        lin.bias.data[...] = b
        layers.append(lin)
        if layer < len(weights):
            layers.append(nn.Tanh() if activation == "tanh" else nn.Sigmoid())
    model = nn.Sequential(*layers)
    lins = layers[::2]
    xt = Tensor(np.asarray(x, dtype=np.float64)[None, :], dtype="float64")
    tt = Tensor(np.asarray(t, dtype=np.float64)[None, :], dtype="float64")

    def run():
        model.zero_grad()
        diff = model(xt) - tt
        ((diff * diff).sum() * 0.5).backward()
        return [m.weight.grad.numpy() for m in lins], [m.bias.grad.numpy() for m in lins]

    return run


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
    max_depth = _positive_int(max_depth, "max_depth")
    widths = [_positive_int(w, "width") for w in widths]
    activation = _check_activation(activation)
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
                engine_run = _engine_runner(weights, biases, x, t, activation)
                ew, eb = engine_run()
                row["verified"] = counted == naive and all(
                    np.allclose(p, q, rtol=1e-10, atol=1e-12) for p, q in zip(gw + gb, ew + eb)
                )
                row["naive_s"] = _best_time(
                    lambda w=weights, b=biases, x=x, t=t: naive_gradients(w, b, x, t, activation)
                )
                row["engine_s"] = _best_time(engine_run)
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
        fig.savefig(path)
    except OSError as exc:
        raise ConfigError(f"plot: cannot write {path}: {exc.strerror}") from None


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
        from .recompute import checkpoint_tradeoff, format_tradeoff

        print(format_tradeoff(checkpoint_tradeoff()))
    return rows


def _best_time(fn, repeats: int = 3) -> float:
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ConfigError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def _check_sizes(sizes: Sequence[int]) -> list[int]:
    sizes = [_positive_int(n, "sizes[]") for n in sizes]
    if len(sizes) < 2:
        raise ConfigError(f"sizes: expected at least [n_in, n_out], got {sizes}")
    return sizes


def _check_activation(name: str) -> str:
    if name not in _ACTIVATIONS:
        raise ConfigError(f"activation: expected one of {_ACTIVATIONS}, got {name!r}")
    return name


__all__ = [
    "engine_gradients", "format_table", "memo_count", "memo_table", "mlp_sizes", "naive_count",
    "naive_gradients", "path_count", "plot_counts", "random_mlp", "run_demo",
]  # fmt: skip
