"""A GAN's plots: its loss curves (losses, the discriminator's accuracies, gradient norms) and,
for images, a grid of generated samples per class. Drawn with :mod:`deltaprop.viz`'s figures
(matplotlib, the ``[plot]`` extra) and written atomically: a file is there whole or not at all.
"""

from __future__ import annotations

import io as _io
import os
from typing import Any

import numpy as np

from .. import io
from ..checks import check_int
from ..errors import ConfigError, DeltapropError
from ..viz.plots import history_dict, new_figure

LOSS_CURVES = "loss_curves.png"
GRIDS = 10  # sample grids over a run when plot_every is not given


def check_plot_folder(folder: str, plot_every: int | None, epochs: int) -> int:
    """matplotlib is there and ``folder`` exists (made if missing) and can be written; the
    grid interval (default: ``epochs // 10``, at least 1)."""
    try:
        import matplotlib  # noqa: F401  (optional: the [plot] extra)
    except ImportError:
        raise ConfigError("plot: needs matplotlib: install deltaprop[plot]") from None
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"plot: cannot create folder {folder}: {exc.strerror}") from None
    io.check_path(os.path.join(folder, LOSS_CURVES), "plot", writable=True)
    if plot_every is None:
        return max(1, epochs // GRIDS)
    return check_int(plot_every, "plot_every")


def _png(fig: Any) -> bytes:
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def _write(path: str, data: bytes) -> None:
    try:
        io.atomic_write(path, data)
    except DeltapropError as exc:
        raise ConfigError(f"plot: {exc}") from None


def plot_gan_history(history: Any, path: str | None = None) -> Any:
    """Three panels: generator and discriminator losses; the discriminator's accuracy on real
    and on generated rows (0.5: it cannot tell); both networks' gradient norms (log scale).
    Returns the Figure; writes it as a PNG to ``path`` (atomically) when given."""
    h = history_dict(history)
    missing = [k for k in ("d_loss", "g_loss", "d_real_accuracy") if k not in h]
    if missing:
        raise ConfigError(f"history: not a GAN's History (no {', '.join(missing)})")
    fig, axes = new_figure(3)
    epochs = np.arange(1, len(h["d_loss"]) + 1)
    panels = (
        ("losses", (("d_loss", "discriminator"), ("g_loss", "generator")), False),
        ("discriminator accuracy", (("d_real_accuracy", "on real"),
                                    ("d_fake_accuracy", "on generated")), False),
        ("gradient norm", (("d_grad_norm", "discriminator"), ("g_grad_norm", "generator")), True),
    )  # fmt: skip
    for ax, (title, lines, log) in zip(axes, panels):
        for key, label in lines:
            y = np.asarray(h[key], dtype=float)
            ax.plot(epochs, np.where(y > 0, y, np.nan) if log else y, label=label)
        if log:
            ax.set_yscale("log")
        ax.set(title=title, xlabel="epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    if path is not None:
        _write(os.fspath(path), _png(fig))
    return fig


def sample_grid_png(
    X: np.ndarray, idx: np.ndarray, classes: np.ndarray, space: Any, epoch: int
) -> bytes:
    """PNG bytes of generated images X (decoded) of classes ``idx`` (sorted, the same count
    of each): one image tiled from them, a row per class (one imshow: fast enough to draw
    every few epochs)."""
    c, h, w = space.image_shape
    images = (np.asarray(X, dtype=np.float64).reshape(len(X), c, h, w) - space.low) / (
        space.high - space.low)  # fmt: skip
    k = len(classes)
    per = max(1, len(images) // k)
    tile = np.zeros((k * (h + 1) + 1, per * (w + 1) + 1, c))  # 1-pixel gaps (white, inverted)
    for i, img in enumerate(images[: k * per]):
        r, q = divmod(i, per)
        tile[1 + r * (h + 1) : 1 + r * (h + 1) + h, 1 + q * (w + 1) : 1 + q * (w + 1) + w] = (
            np.moveaxis(img, 0, -1))  # fmt: skip
    fig, (ax,) = new_figure(1, panel_size=(0.35 * per + 0.8, 0.35 * k + 0.6))
    if c == 1:
        ax.imshow(1.0 - tile[..., 0], cmap="gray", vmin=0.0, vmax=1.0)  # dark strokes on white
    else:
        ax.imshow(np.clip(tile, 0.0, 1.0))
    ax.set_xticks([])
    ax.set_yticks([1 + r * (h + 1) + h / 2 - 0.5 for r in range(k)], [str(v) for v in classes])
    ax.set_title(f"generated, epoch {epoch}", fontsize="small")
    return _png(fig)


def write_plots(folder: str, history: Any, grids: list[tuple[int, bytes]]) -> list[str]:
    """loss_curves.png and the sample grids ``samples_epoch_0010.png``; returns the names."""
    plot_gan_history(history, os.path.join(folder, LOSS_CURVES))
    names = [LOSS_CURVES]
    for epoch, data in grids:
        name = f"samples_epoch_{epoch:04d}.png"
        _write(os.path.join(folder, name), data)
        names.append(name)
    return names
