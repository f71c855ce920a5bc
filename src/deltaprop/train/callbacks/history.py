"""History: what ``fit`` returns, per-epoch lists of every logged value (Keras style)."""

from __future__ import annotations

from typing import Any

from .base import Callback


class History(Callback):
    """Records the logs of every epoch.

    Attributes:
        history: ``{"loss": [...], "accuracy": [...], "val_loss": [...], ...,
            "epoch_seconds": [...]}``, one entry per finished epoch.
        epoch: the epoch numbers recorded, counting from 0 (Keras's convention).
        params: the settings of the run (epochs, descent, batch_size, steps per epoch, ...).
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.params: dict[str, Any] = {}

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.history = {}
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"
