"""Plots of a training run, as matplotlib Figures (and PNG files): learning curves, runs
overlaid, gradient flow per layer.

matplotlib is the ``[plot]`` extra: it is imported inside the functions, so ``deltaprop``
imports without it. Figures are built with :class:`matplotlib.figure.Figure`, not pyplot: no
global figure list to leak into, no GUI backend, never a window; PNGs are drawn by Agg.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..checks import check_choice
from ..errors import ConfigError
from .output import figure_png, write_output

# History keys that are not per-epoch metrics with a train/val pair.
_NOT_METRICS = ("lr", "grad_norm", "epoch_seconds")


def new_figure(n_panels: int, ncols: int | None = None, panel_size=(4.6, 3.6)):
    """A constrained-layout Figure with ``n_panels`` axes in a grid (no empty axes)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError(
            "plots need matplotlib, which is not installed: install deltaprop[plot]"
        ) from None
    ncols = n_panels if ncols is None else max(1, min(ncols, n_panels))
    nrows = math.ceil(n_panels / ncols)
    fig = Figure(figsize=(panel_size[0] * ncols, panel_size[1] * nrows), layout="constrained")
    axes = [fig.add_subplot(nrows, ncols, i + 1) for i in range(n_panels)]
    return fig, axes


def finish(fig, path: str | os.PathLike | None):
    """Save ``fig`` as a PNG when ``path`` is given; return it."""
    if path is not None:
        write_output(path, lambda: figure_png(fig))
    return fig


def _series(values: Any, where: str) -> np.ndarray:
    """A 1-D float array; None entries become NaN (an epoch without that value)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
        raise ConfigError(f"{where}: expected a list of numbers, got {type(values).__name__}")
    try:
        return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{where}: expected a list of numbers, got {list(values)[:5]!r}"
        ) from None


def history_dict(history: Any, name: str = "history") -> dict[str, list]:
    """The ``{key: [per-epoch values]}`` dict of a History (or of a Trainer, or a dict)."""
    if hasattr(history, "history") and not isinstance(history, Mapping):
        history = history.history  # a History, or a Trainer whose .history is a History
        if hasattr(history, "history") and not isinstance(history, Mapping):
            history = history.history
    if not isinstance(history, Mapping):
        raise ConfigError(
            f"{name}: expected a History or a dict of per-epoch lists, got {type(history).__name__}"
        )
    if not history or not any(len(v) for v in history.values() if isinstance(v, Sequence)):
        raise ConfigError(f"{name}: is empty (no epochs recorded; call fit first)")
    return dict(history)


def _check_filled(value: Any, name: str, what: str) -> None:
    """ConfigError unless ``value`` is a non-empty mapping (``what`` shows its shape)."""
    if not isinstance(value, Mapping) or not value:
        got = "an empty one" if isinstance(value, Mapping) else type(value).__name__
        raise ConfigError(f"{name}: expected a non-empty dict {what}, got {got}")


def _base_metrics(hist: Mapping[str, Any]) -> list[str]:
    names = []
    for key in hist:
        base = key[4:] if key.startswith("val_") else key
        if base not in _NOT_METRICS and base not in names:
            names.append(base)
    return names


def plot_history(history: Any, path: str | os.PathLike | None = None, metrics=None):
    """Learning curves: one panel per metric (loss first) with its train and validation curves,
    and a panel of the learning rate when it changed during the run (a schedule, warm-up or
    plateau reductions; a constant rate is a flat line that says nothing).

    Args:
        history: a History (what ``Trainer.fit`` returns), a Trainer after ``fit``, or its
            ``history.history`` dict.
        path: write the figure here as a PNG.
        metrics: names to plot, e.g. ``["loss"]``; default: every metric in the history.

    Returns:
        the matplotlib Figure.
    """
    hist = history_dict(history)
    available = _base_metrics(hist)
    if metrics is None:
        metrics = available
    else:
        if isinstance(metrics, str):
            metrics = [metrics]
        unknown = [m for m in metrics if m not in available]
        if unknown or not metrics:
            raise ConfigError(
                f"metrics: {unknown or metrics!r} not in the history; available: {available}"
            )
    show_lr = "lr" in hist and _varies(_series(hist["lr"], "history['lr']"))
    fig, axes = new_figure(len(metrics) + show_lr)
    for ax, name in zip(axes, metrics):
        for key, label, style in ((name, "train", "-"), ("val_" + name, "validation", "--")):
            if key in hist:
                y = _series(hist[key], f"history[{key!r}]")
                ax.plot(np.arange(1, len(y) + 1), y, style, marker="." if len(y) < 30 else None,
                        label=label)  # fmt: skip
        ax.set(title=name, xlabel="epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    if show_lr:
        ax = axes[-1]
        lr = _series(hist["lr"], "history['lr']")
        ax.plot(np.arange(1, len(lr) + 1), lr, color="tab:green")
        if np.all(lr[np.isfinite(lr)] > 0) and np.nanmax(lr) > 10 * np.nanmin(lr):
            ax.set_yscale("log")
        ax.set(title="learning rate", xlabel="epoch")
        ax.grid(alpha=0.3)
    return finish(fig, path)


def _varies(values: np.ndarray) -> bool:
    """More than one distinct finite value (a learning rate worth a panel)."""
    finite = values[np.isfinite(values)]
    return finite.size > 1 and bool(finite.max() > finite.min())


def plot_histories(
    runs: Mapping[str, Any],
    path: str | os.PathLike | None = None,
    metric: str = "val_loss",
    x: str = "epoch",
):
    """Several runs overlaid on one panel, one line per run (e.g. the three descent modes).

    Args:
        runs: ``{label: History (or Trainer, or history dict)}``.
        path: write the figure here as a PNG.
        metric: the history key to plot, e.g. ``"val_loss"``, ``"loss"``, ``"val_accuracy"``.
        x: ``"epoch"``, or ``"time"``: cumulative training seconds (``epoch_seconds``), log
            scale, which compares runs whose epochs cost very different amounts.

    Returns:
        the matplotlib Figure.
    """
    _check_filled(runs, "runs", "{label: History}")
    x = check_choice(x, ("epoch", "time"), "x")
    series = []
    for label, run in runs.items():
        hist = history_dict(run, f"runs[{label!r}]")
        if metric not in hist:
            raise ConfigError(
                f"metric: {metric!r} not in the history of run {label!r}; available: {list(hist)}"
            )
        y = _series(hist[metric], f"runs[{label!r}][{metric!r}]")
        if x == "time":
            if "epoch_seconds" not in hist:
                raise ConfigError(f"x: 'time' needs epoch_seconds, missing in run {label!r}")
            xs = np.cumsum(_series(hist["epoch_seconds"], f"runs[{label!r}]['epoch_seconds']"))
            xs = xs[: len(y)]
        else:
            xs = np.arange(1, len(y) + 1)
        series.append((str(label), xs, y))
    fig, (ax,) = new_figure(1, panel_size=(6.4, 4.4))
    for label, xs, y in series:
        ax.plot(xs, y, label=label)
    if x == "time":
        ax.set(xscale="log", xlabel="training time (s, cumulative)")
    else:
        ax.set(xlabel="epoch")
    ax.set(ylabel=metric, title=f"{metric} by {'time' if x == 'time' else 'epoch'}")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return finish(fig, path)


def plot_gradient_flow(
    per_layer: Mapping[str, Any],
    path: str | os.PathLike | None = None,
    ylabel: str = "gradient norm",
    xlabel: str = "epoch",
):
    """One line per layer over epochs (or steps), log scale: vanishing gradients show as the
    first layers' lines lying decades below the last ones'.

    Args:
        per_layer: ``{layer name: [value per epoch]}``, in layer order (first layer first);
            values <= 0 or non-finite are left out of the line (a log scale cannot show them).
        path: write the figure here as a PNG.
        ylabel, xlabel: axis labels.

    Returns:
        the matplotlib Figure.
    """
    _check_filled(per_layer, "per_layer", "{layer name: [value per epoch]}")
    lines = [(str(k), _series(v, f"per_layer[{k!r}]")) for k, v in per_layer.items()]
    fig, (ax,) = new_figure(1, panel_size=(6.4, 4.4))
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    n = len(lines)
    for i, (name, y) in enumerate(lines):
        y = np.where(np.isfinite(y) & (y > 0), y, np.nan)
        ax.plot(np.arange(1, len(y) + 1), y, label=name, color=cmap(i / max(1, n - 1)),
                marker="." if len(y) < 30 else None)  # fmt: skip
    ax.set(yscale="log", xlabel=xlabel, ylabel=ylabel, title=f"{ylabel} per layer")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small", ncols=1 if n <= 12 else 2)
    return finish(fig, path)
