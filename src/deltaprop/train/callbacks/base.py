"""Callback: a class of empty hooks (Keras's shape). CallbackList fires them in order.

Callbacks talk to the loop through one flat ``logs`` dict and the trainer's ``stop_training``
flag, which :meth:`Trainer.fit` reads after every epoch. Epoch and batch numbers passed to hooks
count from 0, as in Keras; printed lines and error messages count from 1.

Hook order in ``fit``::

    on_train_begin(logs)
      on_epoch_begin(epoch, logs)
        on_batch_begin(batch, logs)   # logs: {"batch", "size"}
        on_batch_end(batch, logs)     # logs: {"batch", "size", "loss"}
      on_epoch_end(epoch, logs)       # logs: {"loss", "accuracy", "val_loss", ..., "epoch_seconds"}
    on_train_end(logs)                # logs: the last epoch's logs

``on_train_end`` also runs when training stops on an error, so cleanup (closing files) can live
there; ``logs`` then holds ``"error"``, the exception.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ...errors import ConfigError


class Callback:
    """Base class: override the hooks you need. ``self.trainer`` is set by the Trainer."""

    trainer: Any = None

    def set_trainer(self, trainer: Any) -> None:
        self.trainer = trainer

    @property
    def model(self):
        return None if self.trainer is None else self.trainer.model

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        pass

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        pass

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        pass

    def on_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        pass

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        pass


class CallbackList:
    """Callbacks called in the order given. Empty lists are falsy, so the loop can skip them.

    The list knows its trainer: every callback in it, and every one appended later, gets
    ``set_trainer`` called (the Trainer makes its list with ``trainer=self``).
    """

    def __init__(self, callbacks: Iterable[Callback] = (), trainer: Any = None) -> None:
        if isinstance(callbacks, Callback):
            callbacks = [callbacks]
        items = list(callbacks) if callbacks is not None else []
        for i, cb in enumerate(items):
            _check_callback(cb, f"callbacks[{i}]")
        self.callbacks: list[Callback] = items
        self.trainer = None
        if trainer is not None:
            self.set_trainer(trainer)

    def set_trainer(self, trainer: Any) -> None:
        self.trainer = trainer
        for cb in self.callbacks:
            cb.set_trainer(trainer)

    def append(self, cb: Callback) -> None:
        """Add ``cb`` at the end, wired to this list's trainer."""
        _check_callback(cb, "callback")
        self.callbacks.append(cb)
        if self.trainer is not None:
            cb.set_trainer(self.trainer)

    def listens(self, hook: str) -> bool:
        """Whether any callback overrides ``hook`` (e.g. ``"on_batch_end"``): the loop skips
        the per-batch calls, and the dict each one gets, when none does."""
        base = getattr(Callback, hook)
        return any(getattr(type(cb), hook, base) is not base for cb in self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)

    def __iter__(self):
        return iter(self.callbacks)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        for cb in self.callbacks:
            cb.on_train_begin(logs)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        for cb in self.callbacks:
            cb.on_train_end(logs)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)

    def on_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        for cb in self.callbacks:
            cb.on_batch_begin(batch, logs)

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        for cb in self.callbacks:
            cb.on_batch_end(batch, logs)


def _check_callback(cb: Any, name: str) -> None:
    if not isinstance(cb, Callback):
        raise ConfigError(
            f"{name}: expected a Callback instance, got {type(cb).__name__}"
            + (" (a class: add parentheses)" if isinstance(cb, type) else "")
        )
