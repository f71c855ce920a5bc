"""TensorBoard: a run's scalars, gradient norms and histograms as TensorBoard event files,
written with tensorboardX (the ``[tensorboard]`` extra; imported when the callback is made).

``tensorboard --logdir DIR`` then shows them. Each value is at its epoch, counting from 1 as
the printed lines do.
"""

from __future__ import annotations

import numbers
import os
import secrets
from typing import Any

import numpy as np

from ...checks import check_int, check_optional, require
from ...errors import ConfigError
from ...io import check_path
from .base import Callback

#: A GradientMonitor's per-layer figures written as scalars, ``"grad_norm/<layer>"``.
MONITOR_STATS = ("grad_norm", "weight_norm", "update_ratio")


def check_log_dir(folder: Any, name: str = "log_dir") -> str:
    """``folder`` as a str, created if missing, in which files can be created; otherwise one
    ConfigError naming ``name`` (a path that is a file, a folder that cannot be created or
    written to). Checked when a logger is made, before any training."""
    if not isinstance(folder, (str, os.PathLike)) or not os.fspath(folder):
        raise ConfigError(f"{name}: expected a folder path, got {folder!r}")
    folder = os.fspath(folder)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ConfigError(f"{name}: {folder} is a file; expected a folder")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{name}: cannot create the folder {folder}: {exc.strerror}") from None
    # the same probe as every output file: create and delete a temporary in the folder
    check_path(os.path.join(folder, "events.probe"), name, writable=True)
    return folder


class TensorBoard(Callback):
    """Write TensorBoard event files into ``log_dir`` while :meth:`Trainer.fit` runs.

    Written at the end of every epoch (step = the epoch, counting from 1):

    - every number in the epoch's logs: ``loss``, ``accuracy``, ``val_loss``, ...,
      ``lr`` (the learning rate), ``grad_norm`` (with ``clip_norm``), ``epoch_seconds``;
    - with a GradientMonitor among the Trainer's callbacks (in any position), its per-layer
      figures: ``grad_norm/<layer>``, ``weight_norm/<layer>``, ``update_ratio/<layer>`` and
      ``first_last_ratio`` (a monitor recording every n steps writes ``steps/...`` at the
      global step instead);
    - every ``histogram_every`` epochs (and never with None), a histogram of each parameter
      (``weights/<name>``) and of its gradient from the epoch's last step
      (``gradients/<name>``).

    The folder is created if missing and checked for writing when the callback is made
    (ConfigError naming ``log_dir``); the writer opens at ``on_train_begin``, flushes after
    every epoch (so a running TensorBoard sees them) and is closed at ``on_train_end``, also
    when training fails. Each ``fit`` adds a new event file to the folder.

    Args:
        log_dir: the folder of the event files.
        histogram_every: write the histograms every this many epochs; None: never.
    """

    def __init__(self, log_dir: str | os.PathLike, histogram_every: int | None = 5) -> None:
        self._tbx = require("tensorboardX", "tensorboard", "TensorBoard")
        self.log_dir = check_log_dir(log_dir, "log_dir")
        self.histogram_every = check_optional(check_int, histogram_every, "histogram_every")
        self.writer: Any = None
        self._logged: dict[int, int] = {}  # id(monitor) -> its records already written

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        # tensorboardX names a file by the second and the host only: two fits in one second
        # would write one file, the second replacing the first, without a suffix of its own
        suffix = f".{os.getpid()}.{secrets.token_hex(4)}"
        self.writer = self._tbx.SummaryWriter(logdir=self.log_dir, filename_suffix=suffix)
        self._logged = {}

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        step = epoch + 1
        for key, value in (logs or {}).items():
            if is_number(value):
                self.writer.add_scalar(key, float(value), step)
        self._monitor_records()
        if self.histogram_every is not None and step % self.histogram_every == 0:
            self._histograms(step)
        self.writer.flush()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.writer is None:
            return
        self._monitor_records()  # a monitor listed after this callback: its last record
        self.writer.close()
        self.writer = None

    def _monitor_records(self) -> None:
        """The records GradientMonitors made since the last call. Found by what they keep
        (``records``), not by class: the monitor lives in a layer above ``train``."""
        for cb in getattr(self.trainer, "callbacks", ()):
            records = getattr(cb, "records", None)
            if cb is self or not isinstance(records, list) or not hasattr(cb, "series"):
                continue
            done = self._logged.get(id(cb), 0)
            for record in records[done:]:
                self._record(record)
            self._logged[id(cb)] = len(records)

    def _record(self, record: dict[str, Any]) -> None:
        per_step = record.get("step") is not None
        step = record["step"] if per_step else record["epoch"] + 1
        prefix = "steps/" if per_step else ""
        for layer, stats in record.get("layers", {}).items():
            for key in MONITOR_STATS:
                if is_number(stats.get(key)):
                    self.writer.add_scalar(f"{prefix}{key}/{layer}", float(stats[key]), step)
        if is_number(record.get("first_last_ratio")):
            self.writer.add_scalar(f"{prefix}first_last_ratio", record["first_last_ratio"], step)

    def _histograms(self, step: int) -> None:
        for name, p in self.model.named_parameters():
            values = p.numpy()
            if np.all(np.isfinite(values)):  # a histogram of NaN has no bins
                self.writer.add_histogram(f"weights/{name}", values, step)
            if p.grad is not None:
                grad = p.grad.numpy()
                if np.all(np.isfinite(grad)):
                    self.writer.add_histogram(f"gradients/{name}", grad, step)

    def __repr__(self) -> str:
        return f"TensorBoard(log_dir={self.log_dir!r}, histogram_every={self.histogram_every})"


def is_number(value: Any) -> bool:
    """A real number (NumPy's too; NaN included: a run that blew up should show it), not a
    bool, a string or a dict of figures."""
    return isinstance(value, (numbers.Real, np.floating, np.integer)) and not isinstance(
        value, (bool, np.bool_)
    )
