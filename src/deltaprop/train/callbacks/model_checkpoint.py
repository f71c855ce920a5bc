"""ModelCheckpoint: save the model (a model file, :func:`deltaprop.save`) during training, every
n epochs or when it is the best yet. Not the training state of ``fit(checkpoint=...)``, which
is :mod:`deltaprop.train.state`."""

from __future__ import annotations

import os
from typing import Any

from ...checks import check_bool, check_int
from ...errors import ConfigError
from ...io import save
from ...report import note, warn
from ..finite import listed, non_finite
from ._monitor import Monitor
from .base import Callback


class ModelCheckpoint(Callback):
    """Write the model with :func:`deltaprop.save` (one safetensors file, replaced atomically).

    Every ``every_n_epochs`` epochs the model is saved; with ``save_best_only`` only when
    ``monitor`` beats the best value saved so far (the best is kept across ``fit`` calls, so a
    second ``fit`` does not overwrite a better model with a worse one).

    ``path`` may hold ``str.format`` fields: ``{epoch}`` (counting from 1) and any key of the
    epoch logs, e.g. ``"ckpt/model-{epoch:03d}-{val_loss:.3f}.safetensors"``; without fields
    the same file is replaced each time. Folders are created as needed. The file's metadata
    holds ``{"epoch": epoch + 1, "logs": {...}}`` (read it with :func:`deltaprop.read_metadata`).

    A model holding NaN/Inf (a parameter or a buffer such as batch norm's running variance) is
    never written: that epoch is skipped with a warning naming the tensor, the file keeps the
    model saved before, and ``best`` is not updated. In ``fit`` this cannot happen through
    training itself (the NaN guard checks every epoch before callbacks run and rolls such a
    state back); it guards against a callback listed before this one that changed the model.

    Args:
        path: the file to write (a template, see above).
        monitor, mode: what "best" means (as in :class:`EarlyStopping`); only used with
            ``save_best_only``.
        save_best_only: save only improvements; False saves every ``every_n_epochs`` epochs.
        every_n_epochs: consider saving at the end of every n-th epoch.
        verbose: print a line for every file written.

    Attributes:
        best: the best monitored value saved so far; ``best_path`` its file.
        saved: every path written, in order.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        monitor: str = "val_loss",
        mode: str = "auto",
        save_best_only: bool = True,
        every_n_epochs: int = 1,
        verbose: bool = False,
    ) -> None:
        if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
            raise ConfigError(f"path: expected a file path, got {path!r}")
        self.path = os.fspath(path)
        self.save_best_only = check_bool(save_best_only, "save_best_only")
        self.monitor = Monitor("ModelCheckpoint", monitor, mode, 0.0)
        self.every_n_epochs = check_int(every_n_epochs, "every_n_epochs", minimum=1)
        self.verbose = check_bool(verbose, "verbose")
        self.best = self.monitor.worst
        self.best_path: str | None = None
        self.saved: list[str] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        current = self.monitor.value(logs) if self.save_best_only else None
        if (epoch + 1) % self.every_n_epochs:
            return
        if current is not None and not self.monitor.better(current, self.best):
            return
        path = self._format(epoch, logs)
        found = non_finite(self.model)
        if found:  # never replace a finite model with a broken one
            kept = "keeps the model saved before" if os.path.exists(path) else "was not written"
            warn(
                f"ModelCheckpoint: epoch {epoch + 1}: not saved: {listed(found)} is NaN/Inf; "
                f"{path} {kept}"
            )
            return
        if current is not None:
            self.best = current
        self._save(path, epoch, logs)
        if current is not None:
            self.best_path = path
        if self.verbose:
            why = f" ({self.monitor.key} {current:.6g})" if current is not None else ""
            note(f"ModelCheckpoint: epoch {epoch + 1}: saved {path}{why}")

    def _format(self, epoch: int, logs: dict[str, Any]) -> str:
        try:
            return self.path.format(**{**logs, "epoch": epoch + 1})
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(
                f"path: cannot fill in {self.path!r} ({type(exc).__name__}: {exc}); the "
                f"fields available are {['epoch', *logs]}"
            ) from None

    def _save(self, path: str, epoch: int, logs: dict[str, Any]) -> None:
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        numbers = {k: float(v) for k, v in logs.items() if isinstance(v, (int, float))}
        save(self.model, path, metadata={"epoch": epoch + 1, "logs": numbers})
        self.saved.append(path)

    def state_dict(self) -> dict[str, Any]:
        """``best``, ``best_path`` and ``saved``: plain values, for resuming."""
        return {"best": self.best, "best_path": self.best_path, "saved": list(self.saved)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or set(state) != {"best", "best_path", "saved"}:
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ConfigError(
                f"state_dict: expected the keys ['best', 'best_path', 'saved'], got {got}"
            )
        self.best = float(state["best"])
        self.best_path = state["best_path"]
        self.saved = list(state["saved"])

    def __repr__(self) -> str:
        return (
            f"ModelCheckpoint(path={self.path!r}, monitor={self.monitor.key!r}, "
            f"save_best_only={self.save_best_only}, every_n_epochs={self.every_n_epochs})"
        )
