"""The threads of :mod:`deltaprop.compile.lanes`: ``run(n, fn)`` calls ``fn(0)`` ... ``fn(n-1)``
at once, lane 0 in the caller's thread and the others in threads made once per process (a
fork's child makes its own), with every BLAS library NumPy calls at one thread meanwhile
(``one_blas_thread``, through threadpoolctl): two lanes each calling a two-thread BLAS would
put four threads on two cores. An exception in any lane is raised in the caller once all
lanes are done, so no lane is still writing when it is handled.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any


class _Workers:
    """``n - 1`` threads that wait for a lane number to run; lane 0 runs in the caller."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.pid = os.getpid()  # a fork's child has none of these threads: it makes its own
        self.fn: Callable[[int], None] | None = None
        self.errors: list[BaseException | None] = [None] * n
        self.go = [threading.Semaphore(0) for _ in range(n)]
        self.done = threading.Semaphore(0)
        for i in range(1, n):
            threading.Thread(target=self._loop, args=(i,), daemon=True, name=f"lane{i}").start()

    def _loop(self, i: int) -> None:
        while True:
            self.go[i].acquire()
            try:
                self.fn(i)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                self.errors[i] = exc
            self.done.release()

    def run(self, lanes: int, fn: Callable[[int], None]) -> None:
        self.fn = fn
        for i in range(1, lanes):
            self.go[i].release()
        try:
            fn(0)
        except BaseException as exc:  # noqa: BLE001 - raised below, once every lane is done
            self.errors[0] = exc
        for _ in range(1, lanes):
            self.done.acquire()
        errors = [e for e in self.errors[:lanes] if e is not None]
        self.errors[:lanes] = [None] * lanes
        if errors:
            # the cause, not a lane that only saw another one fail (a broken barrier)
            causes = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)]
            raise (causes or errors)[0]


_WORKERS: list[_Workers] = []
_LOCK = threading.Lock()


def run(lanes: int, fn: Callable[[int], None]) -> None:
    """``fn(0)``, ..., ``fn(lanes - 1)`` at once, lane 0 in this thread, each with the BLAS
    libraries at one thread (restored after)."""
    with _LOCK:  # one split at a time in a process (two Trainers in two threads wait)
        workers = _WORKERS[0] if _WORKERS else None
        if workers is None or workers.pid != os.getpid() or workers.n < lanes:
            workers = _Workers(lanes)
            _WORKERS[:] = [workers]
        with one_blas_thread():
            workers.run(lanes, fn)


class one_blas_thread:
    """A block in which every BLAS library NumPy may call runs one thread (threadpoolctl)."""

    _controllers: list | None = None

    def __enter__(self) -> None:
        ctl = one_blas_thread._controllers
        if ctl is None:
            try:
                from threadpoolctl import ThreadpoolController

                ctl = ThreadpoolController().select(user_api="blas").lib_controllers
            except Exception:  # noqa: BLE001 - no control: the lanes still run
                ctl = []
            one_blas_thread._controllers = ctl
        self.before = [c.get_num_threads() for c in ctl]
        for c in ctl:
            c.set_num_threads(1)

    def __exit__(self, *exc: Any) -> None:
        for c, n in zip(one_blas_thread._controllers, self.before):
            c.set_num_threads(n)
