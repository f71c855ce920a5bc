"""CSVLogger: one row per epoch, the epoch logs' keys as columns."""

from __future__ import annotations

import csv
import os
from typing import Any

from ...checks import check_bool, check_int
from ...errors import ConfigError
from .base import Callback


class CSVLogger(Callback):
    """Write ``epoch`` (counting from 1, as the printed lines do) and every logged value.

    The columns are the keys of the first epoch's logs (``loss``, ``accuracy``, ``val_loss``,
    ..., ``lr``, ``epoch_seconds``); a key missing in a later epoch leaves its cell empty. Each
    row is flushed when written, so the file can be watched during training; it is closed when
    training ends, also on an error.

    For resuming (``fit(checkpoint=...)``), :meth:`state_dict` holds the columns and the file's
    size after the last row; a resumed ``fit`` cuts off rows written after that (by the run
    that was interrupted) and appends from there.

    Args:
        path: the CSV file.
        append: add rows to an existing file (its header row decides the columns) instead of
            replacing it.
        separator: the field separator.
    """

    def __init__(self, path: str | os.PathLike, append: bool = False, separator: str = ",") -> None:
        if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
            raise ConfigError(f"path: expected a file path, got {path!r}")
        if not isinstance(separator, str) or len(separator) != 1:
            raise ConfigError(f"separator: expected one character, got {separator!r}")
        self.path = os.fspath(path)
        self.append = check_bool(append, "append")
        self.separator = separator
        self.keys: list[str] | None = None
        self._file: Any = None
        self._writer: Any = None
        self._size = 0  # bytes in the file after the last row written
        self._resume: tuple[list[str] | None, int] | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self._resume is not None:
            self._reopen(*self._resume)
            self._resume = None
            return
        self.keys = None
        existing = self.append and os.path.exists(self.path) and os.path.getsize(self.path) > 0
        if existing:
            with open(self.path, newline="") as f:
                header = next(csv.reader(f, delimiter=self.separator), [])
            self.keys = [k for k in header if k != "epoch"]
        self._file = open(self.path, "a" if self.append else "w", newline="")  # noqa: SIM115
        self._writer = csv.writer(self._file, delimiter=self.separator)
        self._header_done = existing
        self._size = os.fstat(self._file.fileno()).st_size

    def _reopen(self, keys: list[str] | None, size: int) -> None:
        """Resume: drop what was written after ``size`` bytes, then append."""
        if os.path.exists(self.path) and os.path.getsize(self.path) > size:
            with open(self.path, "r+b") as f:
                f.truncate(size)
        self.keys = None if keys is None else list(keys)
        self._file = open(self.path, "a", newline="")  # noqa: SIM115
        self._writer = csv.writer(self._file, delimiter=self.separator)
        self._size = os.fstat(self._file.fileno()).st_size
        self._header_done = self._size > 0

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        if self.keys is None:
            self.keys = list(logs)
        if not self._header_done:
            self._writer.writerow(["epoch", *self.keys])
            self._header_done = True
        row = [epoch + 1] + [_cell(logs.get(k, "")) for k in self.keys]
        self._writer.writerow(row)
        self._file.flush()
        self._size = os.fstat(self._file.fileno()).st_size

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._file is not None:
            self._file.close()
            self._file = self._writer = None

    def state_dict(self) -> dict[str, Any]:
        """``keys`` (the columns) and ``size`` (bytes written up to the last row)."""
        return {"keys": None if self.keys is None else list(self.keys), "size": self._size}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s values; the next ``fit`` appends after them."""
        if not isinstance(state, dict) or set(state) != {"keys", "size"}:
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ConfigError(f"state_dict: expected the keys ['keys', 'size'], got {got}")
        keys = state["keys"]
        if keys is not None and (
            not isinstance(keys, list) or not all(isinstance(k, str) for k in keys)
        ):
            raise ConfigError(
                f"state_dict['keys']: expected a list of strings or None, got {keys!r}"
            )
        self._resume = (keys, check_int(state["size"], "state_dict['size']", minimum=0))

    def __repr__(self) -> str:
        return f"CSVLogger(path={self.path!r}, append={self.append})"


def _cell(value: Any) -> Any:
    # repr keeps every digit of a float (str would too on Python 3, but not numpy scalars)
    return repr(float(value)) if isinstance(value, float) else value
