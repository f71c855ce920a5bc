"""Ctrl-C during a study, handled at safe points only. A KeyboardInterrupt raised at any
moment may land while Optuna holds the journal file's lock (or is half-way through a write):
the lock is then left behind and every other worker waits for it. So inside
:func:`held_interrupts` Ctrl-C only sets a flag; a trial checks it when it starts and after
every epoch (:func:`check`, which raises KeyboardInterrupt there: the objective fails the
trial as "interrupted" and queues it again), and the study stops after the trial."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class _State:
    pending = False  # Ctrl-C came: stop at the next safe point


STATE = _State()


def _on_sigint(signum: int, frame: Any) -> None:
    STATE.pending = True


def check() -> None:
    """A safe point: raise KeyboardInterrupt if Ctrl-C came."""
    if STATE.pending:
        raise KeyboardInterrupt


@contextmanager
def held_interrupts() -> Iterator[None]:
    """Hold Ctrl-C for the block (main thread only; elsewhere nothing changes); if it came,
    KeyboardInterrupt is raised when the block ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _on_sigint)
    STATE.pending = False
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if STATE.pending:
        STATE.pending = False
        raise KeyboardInterrupt
