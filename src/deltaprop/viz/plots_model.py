"""Plots of a model: its decision boundary on 2-D data, histograms of its weights and gradients.

matplotlib is imported inside the functions (the ``[plot]`` extra); see :mod:`.plots`.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from .. import backend
from ..autograd.tensor import Tensor
from ..config import no_grad
from ..errors import ConfigError, ShapeError
from ..nn.module import Module
from ..train import inputs
from .plots import finish, new_figure


def _as_numpy(a: Any) -> np.ndarray:
    if isinstance(a, Tensor):
        a = a.data
    return np.asarray(backend.to_numpy(a)) if not isinstance(a, np.ndarray) else a


def _module_classes(model: Module, X: np.ndarray) -> np.ndarray:
    """Predicted classes of a bare Module: argmax of its outputs (or output > 0 for one
    logit), in eval mode and without recording a graph."""
    dtype, xp = inputs.model_dtype_and_xp(model)
    with model.evaluating(), no_grad():
        out = _as_numpy(model(Tensor._wrap(inputs.to_model(X, dtype, xp))))
    if out.ndim != 2:
        raise ShapeError(f"trainer_or_model: expected (N, classes) outputs, got {out.shape}")
    return (out[:, 0] > 0).astype(np.int64) if out.shape[1] == 1 else out.argmax(axis=1)


def plot_decision_boundary(
    trainer_or_model: Any,
    X: Any,
    y: Any,
    path: str | os.PathLike | None = None,
    resolution: int = 200,
):
    """The classes a classifier predicts over the plane of 2-feature data, with the points.

    Args:
        trainer_or_model: a classification Trainer (``predict_classes``) or a Module whose
            outputs are class scores (argmax; one output: a binary logit).
        X: (N, 2) features, as the model sees them (e.g. standardized).
        y: (N,) class labels, colouring the points.
        path: write the figure here as a PNG.
        resolution: grid points per axis.

    Returns:
        the matplotlib Figure; its axes hold the predicted classes as an image (``ax.images[0]``)
        and the points as a scatter.
    """
    X = _as_numpy(X)
    y = _as_numpy(y)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ShapeError(
            f"X: plot_decision_boundary needs 2 features, shape (N, 2); got shape {X.shape}"
        )
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ShapeError(f"y: expected shape ({X.shape[0]},) to match X, got {y.shape}")
    if X.shape[0] == 0:
        raise ShapeError("X: has no rows")
    if (
        not isinstance(resolution, (int, np.integer))
        or isinstance(resolution, bool)
        or not (2 <= resolution <= 4000)
    ):
        raise ConfigError(f"resolution: expected an integer in [2, 4000], got {resolution!r}")
    if isinstance(trainer_or_model, Module):
        predict = lambda grid: _module_classes(trainer_or_model, grid)  # noqa: E731
    elif hasattr(trainer_or_model, "predict_classes"):
        predict = trainer_or_model.predict_classes
    else:
        raise ConfigError(
            "trainer_or_model: expected a Trainer or a Module, got "
            + type(trainer_or_model).__name__
        )

    lo, hi = X.min(axis=0).astype(np.float64), X.max(axis=0).astype(np.float64)
    pad = np.maximum(0.1 * (hi - lo), 1e-3)
    lo, hi = lo - pad, hi + pad
    gx = np.linspace(lo[0], hi[0], resolution)
    gy = np.linspace(lo[1], hi[1], resolution)
    xx, yy = np.meshgrid(gx, gy)
    grid = np.column_stack([xx.ravel(), yy.ravel()])
    classes = np.asarray(predict(grid)).reshape(resolution, resolution)

    y_int = y.astype(np.int64) if y.dtype.kind in "iub" else y
    k = int(max(classes.max(), np.max(y_int) if y.dtype.kind in "iub" else 0)) + 1
    from matplotlib.colors import BoundaryNorm, ListedColormap

    palette = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown",
               "tab:pink", "tab:gray", "tab:olive", "tab:cyan"]  # fmt: skip
    cmap = ListedColormap([palette[i % len(palette)] for i in range(max(k, 2))])
    norm = BoundaryNorm(np.arange(cmap.N + 1) - 0.5, cmap.N)

    fig, (ax,) = new_figure(1, panel_size=(5.6, 4.8))
    ax.imshow(classes, origin="lower", extent=(lo[0], hi[0], lo[1], hi[1]), cmap=cmap,
              norm=norm, alpha=0.35, interpolation="nearest", aspect="auto")  # fmt: skip
    ax.scatter(X[:, 0], X[:, 1], c=y_int, cmap=cmap, norm=norm, s=14, edgecolors="k",
               linewidths=0.4)  # fmt: skip
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel("feature 0")
    ax.set_ylabel("feature 1")
    ax.set_title("decision boundary")
    return finish(fig, path)


def plot_weight_histograms(
    model: Any, path: str | os.PathLike | None = None, grads: bool = False, bins: int = 40
):
    """One histogram per named parameter: its values, or its gradient with ``grads=True``
    (parameters without a gradient are left out).

    Args:
        model: a Module (or a Trainer: its model).
        path: write the figure here as a PNG.
        grads: plot ``p.grad`` instead of the values.
        bins: bins per histogram.

    Returns:
        the matplotlib Figure, one axes per parameter shown.
    """
    if not isinstance(model, Module) and isinstance(getattr(model, "model", None), Module):
        model = model.model
    if not isinstance(model, Module):
        raise ConfigError(f"model: expected a deltaprop Module, got {type(model).__name__}")
    if not isinstance(bins, (int, np.integer)) or isinstance(bins, bool) or bins < 1:
        raise ConfigError(f"bins: expected a positive integer, got {bins!r}")
    named = list(model.named_parameters())
    if not named:
        raise ConfigError("model: has no parameters to plot")
    if grads:
        named = [(n, p.grad) for n, p in named if p.grad is not None]
        if not named:
            raise ConfigError(
                "grads: the model has no gradients; call backward (or train a step) first"
            )
    else:
        named = [(n, p) for n, p in named]
    from matplotlib.ticker import MaxNLocator

    ncols = min(4, len(named))
    fig, axes = new_figure(len(named), ncols=ncols, panel_size=(3.6, 2.8))
    what = "gradient" if grads else "value"
    for ax, (name, t) in zip(axes, named):
        v = _as_numpy(t).astype(np.float64).ravel()
        finite = v[np.isfinite(v)]
        ax.hist(finite, bins=bins, color="tab:red" if grads else "tab:blue", alpha=0.8)
        mean, std = (float(finite.mean()), float(finite.std())) if finite.size else (math.nan,) * 2
        shape = tuple(_as_numpy(t).shape)
        ax.set_title(f"{name} {shape}\nmean {mean:.2g}  std {std:.2g}", fontsize="small")
        ax.set_xlabel(what, fontsize="small")
        ax.tick_params(labelsize="small")
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
    fig.suptitle(("gradients" if grads else "weights") + " per parameter")
    return finish(fig, path)
