"""The ranks of a data-parallel run on MPI (mpi4py): who am I, how many are we, and the few
collectives training needs, each bounded by a timeout.

mpi4py is optional (``pip install deltaprop[dist]`` installs it with the MPICH wheel) and is
imported on first use, so ``import deltaprop`` never starts MPI. Run a script under
``mpiexec -n 4 python train.py``; without ``mpiexec`` the world is a single rank.

Why every collective is non-blocking and polled: a blocking ``Allreduce`` whose partner has
died (or hangs, or sits behind a broken network) never returns, and no Python exception can
reach a thread stuck inside MPI. Polling ``Test()`` against a deadline lets a rank give up
with a clear :class:`RankTimeout` instead. After that the communicator cannot be trusted
(``MPI_Finalize`` would wait forever for the rank that is gone), so the process aborts the
MPI job when it exits, and the launcher ends the ranks still running.
"""

from __future__ import annotations

import atexit
import os
import pickle
import sys
from time import monotonic, sleep
from typing import Any

import numpy as np

from ..checks import check_choice, check_real
from ..errors import ConfigError, TrainingError

#: Seconds a rank waits for the others at one collective before giving up (the environment
#: variable overrides it; ``World(timeout=...)`` overrides both).
DEFAULT_TIMEOUT = 300.0
TIMEOUT_ENV = "DELTAPROP_DIST_TIMEOUT"
#: How the gradients are summed (:mod:`deltaprop.parallel.gradsum`): "auto" (through shared
#: memory when every rank is on one host, else Allreduce), "mpi" (always Allreduce) or "shm"
#: (always shared memory; an error when the ranks span hosts). The variable sets the default.
REDUCE_ENV = "DELTAPROP_DIST_REDUCE"
REDUCES = ("auto", "mpi", "shm")
INSTALL = "pip install deltaprop[dist]"

# Polling: MPI moves a large message in many pieces and makes progress only inside MPI calls,
# so a rank spins on Test() as a blocking Allreduce would (napping between tests made the
# 7.4 MB allreduce of benchmarks/dist.py 3x slower: 10 ms against 3). Only a wait longer than
# this (rank 0 writing a checkpoint, a rank that died) naps, in growing naps, to the deadline.
_SPIN_SECONDS = 1.0
_MAX_NAP = 0.002


class RankTimeout(TrainingError):
    """A rank waited longer than the timeout for the others at a collective: a rank died or
    hangs. Training stops; the last checkpoint (written before) is intact."""


def mpi(name: str = "distributed"):
    """mpi4py's ``MPI`` module; ConfigError naming ``name`` and the extra when it is missing."""
    try:
        from mpi4py import MPI  # type: ignore[import-not-found]
    except Exception as exc:  # ImportError, or an MPI library that cannot be loaded
        detail = "" if isinstance(exc, ImportError) else f" ({exc})"
        raise ConfigError(
            f"{name}: data-parallel training needs mpi4py and an MPI library, which could not "
            f"be imported{detail}: {INSTALL}"
        ) from None
    return MPI


def mpi_available() -> bool:
    """True when mpi4py (and its MPI library) import."""
    try:
        mpi()
    except ConfigError:
        return False
    return True


def _reduce_from_env() -> str:
    text = os.environ.get(REDUCE_ENV)
    return "auto" if text is None else check_choice(text, REDUCES, REDUCE_ENV)


def _timeout_from_env() -> float:
    text = os.environ.get(TIMEOUT_ENV)
    if text is None:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{TIMEOUT_ENV}: expected a number of seconds > 0, got {text!r}")
    return value


class World:
    """The MPI ranks of this run (``MPI.COMM_WORLD`` unless ``comm`` is given).

    Args:
        timeout: seconds a rank waits for the others at a collective before it raises
            :class:`RankTimeout` (default: ``$DELTAPROP_DIST_TIMEOUT``, else 300). Long enough
            for the slowest rank's step, its validation pass and rank 0's checkpoint write.
        comm: an mpi4py communicator (default: ``MPI.COMM_WORLD``).
        reduce: how the gradients are summed: "auto" (the default, or
            ``$DELTAPROP_DIST_REDUCE``): through a shared-memory window when every rank is on
            one host, else ``Allreduce``; "mpi": always ``Allreduce``; "shm": always shared
            memory (a ConfigError when the ranks span hosts). See
            :mod:`deltaprop.parallel.gradsum`.

    Attributes:
        rank, size: this rank's index and the number of ranks; ``is_root`` is ``rank == 0``.
        broken: True after a timeout: nothing more is sent, and the job aborts at exit.
        summed_by: how the last ``fit`` summed the gradients: "mpi" or "shm" (None before).
    """

    def __init__(
        self, timeout: float | None = None, comm: Any = None, reduce: str | None = None
    ) -> None:
        self._mpi = mpi()
        if timeout is None:
            timeout = _timeout_from_env()
        self.timeout = check_real(timeout, "timeout", strict=True)
        self.reduce = _reduce_from_env() if reduce is None else check_choice(
            reduce, REDUCES, "reduce"
        )  # fmt: skip
        self.comm = self._mpi.COMM_WORLD if comm is None else comm
        self.rank = int(self.comm.Get_rank())
        self.size = int(self.comm.Get_size())
        self.broken = False
        self.summed_by: str | None = None

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def __repr__(self) -> str:
        return (
            f"World(rank={self.rank}, size={self.size}, timeout={self.timeout:g}, "
            f"reduce={self.reduce!r})"
        )

    # --- collectives, each with the deadline -------------------------------------------------
    def allreduce_(self, buffer: np.ndarray, what: str) -> np.ndarray:
        """Sum ``buffer`` (a contiguous host array) over the ranks, in place; return it."""
        if self.size > 1:
            self._ready(what)
            self._wait(self.comm.Iallreduce(self._mpi.IN_PLACE, buffer, self._mpi.SUM), what)
        return buffer

    def broadcast_(self, buffer: np.ndarray, what: str) -> np.ndarray:
        """Overwrite ``buffer`` (contiguous, host) with rank 0's; return it."""
        if self.size > 1:
            self._ready(what)
            self._wait(self.comm.Ibcast(buffer, root=0), what)
        return buffer

    def broadcast_object(self, value: Any, what: str) -> Any:
        """Rank 0's ``value`` on every rank (a small object: generator state, a seed).

        Pickled only for the wire between ranks of one run, never stored."""
        if self.size == 1:
            return value
        data = pickle.dumps(value) if self.is_root else b""
        length = self.broadcast_(np.array([len(data)], dtype=np.int64), what)
        buffer = np.frombuffer(data, dtype=np.uint8).copy() if self.is_root else None
        if buffer is None:
            buffer = np.empty(int(length[0]), dtype=np.uint8)
        self.broadcast_(buffer, what)
        return value if self.is_root else pickle.loads(buffer.tobytes())

    def barrier(self, what: str, comm: Any = None) -> None:
        """Wait until every rank of ``comm`` (default: the world's) has arrived."""
        if comm is None:
            if self.size == 1:
                return
            comm = self.comm
        self._ready(what)
        self._wait(comm.Ibarrier(), what)

    def ranks_on_host(self) -> int:
        """How many ranks of the world run on this rank's host (a collective)."""
        if self.size == 1:
            return 1
        self.barrier("the count of the ranks on each host")
        node = self.comm.Split_type(self._mpi.COMM_TYPE_SHARED, key=self.rank)
        count = int(node.Get_size())
        node.Free()
        return count

    def any(self, flag: bool, what: str) -> bool:
        """True on every rank when ``flag`` is True on any rank."""
        votes = self.allreduce_(np.array([1 if flag else 0], dtype=np.int64), what)
        return bool(votes[0])

    # --- the deadline ------------------------------------------------------------------------
    def _ready(self, what: str) -> None:
        if self.broken:
            raise RankTimeout(
                f"distributed: rank {self.rank} cannot take part in {what}: an earlier "
                "collective timed out"
            )

    def _wait(self, request: Any, what: str) -> None:
        start = monotonic()
        deadline = start + self.timeout
        nap = 0.0001
        while not request.Test():
            now = monotonic()
            if now > deadline:
                self._give_up(what)
            if now - start > _SPIN_SECONDS:
                sleep(nap)
                nap = min(nap * 2, _MAX_NAP)

    def _give_up(self, what: str) -> None:
        self.broken = True
        # MPI_Finalize at exit would wait forever for the missing rank: abort the job instead
        # (atexit runs before mpi4py's finalizer); the launcher then ends every rank.
        atexit.register(_abort, self.comm)
        raise RankTimeout(
            f"distributed: rank {self.rank} of {self.size} waited {self.timeout:g} s for the "
            f"other ranks at {what}; a rank has died or hangs (see its output). This rank "
            f"stops; the last checkpoint is intact. The timeout is World(timeout=...) or "
            f"${TIMEOUT_ENV}"
        )


def _abort(comm: Any) -> None:
    """End the job from this rank, after its error has reached the launcher: the streams
    flushed, then a pause in which the other waiting ranks (which time out at about the same
    moment) print theirs; an immediate Abort cut a rank's traceback mid-line (seen in CI)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # pragma: no cover - a closed stream
            pass
    sleep(_ABORT_GRACE)
    comm.Abort(1)


#: Seconds between a timed-out rank's error and its Abort of the job (see _abort).
_ABORT_GRACE = 1.0

_WORLD: World | None = None


def world(timeout: float | None = None, reduce: str | None = None) -> World:
    """The run's :class:`World` (made once; ``timeout`` and ``reduce`` replace its settings
    when given)."""
    global _WORLD
    if _WORLD is None:
        _WORLD = World(timeout, reduce=reduce)
        return _WORLD
    if timeout is not None:
        _WORLD.timeout = check_real(timeout, "timeout", strict=True)
    if reduce is not None:
        _WORLD.reduce = check_choice(reduce, REDUCES, "reduce")
    return _WORLD


def rank() -> int:
    """This process's rank: 0 without MPI (or without mpi4py)."""
    return _WORLD.rank if _WORLD is not None else _env_rank()


def size() -> int:
    """The number of ranks: 1 without MPI."""
    return _WORLD.size if _WORLD is not None else 1


def is_root() -> bool:
    """True on rank 0, the rank that prints and writes files (and in a run without MPI)."""
    return rank() == 0


def launched_size() -> int:
    """How many processes an MPI launcher started together, from its variables (MPICH's PMI,
    Open MPI); 1 outside one. No MPI call: a run without ``distributed`` can ask it."""
    for key in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE"):
        value = os.environ.get(key)
        if value is not None and value.isdigit():
            return int(value)
    return 1


def _env_rank() -> int:
    # Before MPI starts: the launchers' variables (MPICH's PMI, Open MPI, Slurm), so that a
    # script can ask "am I rank 0?" without starting MPI.
    for key in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK"):
        value = os.environ.get(key)
        if value is not None and value.isdigit():
            return int(value)
    return 0
