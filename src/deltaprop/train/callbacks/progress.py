"""ProgressBar: a tqdm bar over each epoch's batches, with the running loss."""

from __future__ import annotations

from typing import Any

from ...checks import check_bool
from .base import Callback


class ProgressBar(Callback):
    """Show a tqdm bar per epoch, whatever the number of batches and wherever the output goes.

    Without it, ``fit(verbose=True)`` already shows a bar on a terminal when an epoch has many
    batches; listing this callback replaces that automatic bar (there is never two). The bar
    shows the running mean of the batch losses while the epoch runs, and the epoch's logged
    values (``loss``, ``val_loss``, ...) when it ends.

    Args:
        leave: keep each finished epoch's bar on screen.
        file: where to draw (tqdm's default, stderr, when None).
        mininterval: seconds between redraws (tqdm's ``mininterval``).
    """

    def __init__(self, leave: bool = True, file: Any = None, mininterval: float = 0.1) -> None:
        self.leave = check_bool(leave, "leave")
        self.file = file
        self.mininterval = mininterval
        self._bar: Any = None
        self._loss_sum = 0.0
        self._rows = 0

    def _params(self) -> dict[str, Any]:
        history = getattr(self.trainer, "history", None)
        return getattr(history, "params", {}) or {}

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        from tqdm import tqdm

        params = self._params()
        epochs = params.get("epochs")
        desc = f"epoch {epoch + 1}/{epochs}" if epochs else f"epoch {epoch + 1}"
        self._close()
        self._bar = tqdm(
            total=params.get("steps"),
            desc=desc,
            leave=self.leave,
            file=self.file,
            mininterval=self.mininterval,
            unit="batch",
        )
        self._loss_sum = 0.0
        self._rows = 0

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        bar = self._bar
        if bar is None:
            return
        if logs:
            n = logs.get("size", 1)
            self._loss_sum += logs.get("loss", 0.0) * n
            self._rows += n
        if bar.update(1) and self._rows:  # True when tqdm redrew: only then format the loss
            bar.set_postfix(loss=f"{self._loss_sum / self._rows:.4f}", refresh=False)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._bar is not None and logs:
            shown = {k: f"{v:.4g}" for k, v in logs.items() if k != "epoch_seconds"}
            self._bar.set_postfix(shown, refresh=True)
        self._close()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._close()

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
