"""Summing the gradient buffer over the ranks: ``Allreduce``, or an MPI shared-memory window
when every rank sits on one host.

:func:`gradient_sum` picks one per ``fit`` (``World(reduce=...)``); both offer ``buffer`` (where
this rank packs its gradients), ``sum(what)`` (the sum over the ranks, the same numbers on
every rank) and ``close()``.

**The shared-memory sum** (:class:`SharedSum`, MPI-3's ``MPI_Win_allocate_shared``). One window,
mapped by every rank of the host, holds a slot ``S_r`` per rank and one result ``R``, each of
the bucket's size (the gradients and the step's scalars)::

    | S_0 | S_1 | ... | S_{P-1} | R |

Rank r packs its gradients straight into ``S_r`` (no private buffer), then:

1. *sync 1*: every rank has packed;
2. rank r sums its contiguous chunk ``[lo_r, hi_r)`` of all slots into ``R``, in rank order
   (``R = S_0 + S_1``, then ``+ S_2`` ...): each number of ``R`` is written by one rank only,
   so every rank reads the same bits;
3. *sync 2*: ``R`` is whole; every rank's parameters get views of ``R`` as ``.grad`` and the
   optimizer reads them. Being one array for all ranks, ``R`` is read-only to them: what
   changes gradients in place (penalties, clipping) works on a private copy
   (:meth:`GradBucket.unpack(copy=True) <deltaprop.parallel.GradBucket.unpack>`).

Why two syncs a step suffice: rank r writes ``S_r`` again (the next step's pack) only after
sync 2, which no rank passes before it has finished reading every slot for this step's sum;
and a rank writes ``R`` again only after the next step's sync 1, which every rank reaches
only after its optimizer step has finished reading ``R``. Against ``Allreduce``, which copies
each rank's buffer through MPI's own shared-memory queues in pieces, this reads every slot
once and writes each number of the sum once (7.4 MB over 2 ranks: 0.4 ms against 1.5 ms).

Memory model: the window is used by plain loads and stores, which MPI-3 allows on a shared
window in the *unified* model (checked; ``auto`` falls back to ``Allreduce`` otherwise) within
a passive-target epoch (``Win.Lock_all`` once, for the window's life), with ``Win.Sync``
(``MPI_Win_sync``, a memory barrier) on both sides of each process synchronization: the
writer's stores are made visible before it enters the barrier, and the reader's loads cannot
be served from before it. x86 keeps stores in order and would mostly work without it; other
CPUs (ARM, POWER) do not.

Room: MPICH maps the window from a file in ``/dev/shm``, whose pages are only taken when first
written: a window larger than the room left there (a container's default is 64 MB) would end
the ranks with SIGBUS mid-step. So the room is checked first (and agreed on by every rank):
``auto`` falls back to ``Allreduce`` with a warning, ``shm`` is refused.

Each sync is a non-blocking ``Ibarrier`` polled against the World's deadline, so a dead or hung
rank still ends the others with :class:`~deltaprop.parallel.RankTimeout`. Making and freeing
the window are blocking collectives of MPI; each is preceded by a polled barrier, so a rank
that is already gone is caught there, not in a call that would never return.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .. import report
from ..errors import ConfigError
from .shard import shard_bounds
from .world import World

#: Chunk boundaries fall on multiples of this many bytes, so two ranks never write into one
#: cache line of ``R`` (which would bounce the line between their cores).
_LINE = 64
#: Each slot starts on a page of its own: the rank that packs it touches it first, so on a
#: NUMA host its pages are placed near that rank.
_PAGE = 4096


#: Where MPICH (and Open MPI) put the files they map shared windows from, on Linux.
SHM_DIR = "/dev/shm"


def shm_free_bytes(path: str = SHM_DIR) -> int | None:
    """Bytes free to an unprivileged writer in ``path``; None where there is no such folder
    (another OS: the MPI library maps its windows from elsewhere, unchecked)."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def window_bytes(size: int, dtype: Any, ranks: int) -> int:
    """Bytes of the window of :class:`SharedSum`: ``ranks`` slots and the result, each of
    ``size`` numbers rounded up to whole pages."""
    itemsize = np.dtype(dtype).itemsize
    return (ranks + 1) * (-(-size * itemsize // _PAGE) * _PAGE)


def chunk_bounds(n: int, rank: int, size: int, itemsize: int = 4) -> tuple[int, int]:
    """``(lo, hi)``: the numbers of a sum of ``n`` that rank ``rank`` of ``size`` adds up.

    Contiguous, covering ``[0, n)`` once, split in whole cache lines (``_LINE`` bytes; the last
    chunk takes the remainder), so the chunks differ by at most one line (some are empty when
    ``n`` is small).

    >>> [chunk_bounds(40, r, 3, itemsize=4) for r in range(3)]
    [(0, 16), (16, 32), (32, 40)]
    """
    per_line = max(1, _LINE // itemsize)
    lines = -(-n // per_line)
    lo, hi = shard_bounds(lines, rank, size)
    return min(lo * per_line, n), min(hi * per_line, n)


class AllreduceSum:
    """The sum by one ``Allreduce`` on a private buffer, in place (any set of hosts)."""

    kind = "mpi"

    def __init__(self, world: World, size: int, dtype: Any) -> None:
        self.world = world
        self.buffer = np.zeros(size, dtype=dtype)
        self.result = self.buffer  # summed in place

    def sum(self, what: str) -> np.ndarray:
        """The buffer summed over the ranks (in place): ``(size,)``."""
        return self.world.allreduce_(self.buffer, what)

    def close(self) -> None:
        """Nothing to free."""


class SharedSum:
    """The sum through an MPI shared-memory window (every rank on one host); see the module.

    Args:
        world: the ranks (all on one host; ``node`` is ``world.comm`` split by host).
        node: the host's communicator, of the world's size, ranks in the world's order.
        size, dtype: the bucket's length and dtype (:func:`deltaprop.parallel.bucket.layout`).
    """

    kind = "shm"

    def __init__(self, world: World, node: Any, size: int, dtype: Any) -> None:
        MPI = world._mpi
        dtype = np.dtype(dtype)
        self.world, self.node = world, node
        self.ranks = int(node.Get_size())
        rank = int(node.Get_rank())
        stride = window_bytes(size, dtype, 0) // dtype.itemsize  # one slot, whole pages
        world.barrier("the gradient window's allocation", node)
        # rank 0 allocates the whole window (one segment); the others map it
        nbytes = window_bytes(size, dtype, self.ranks) if rank == 0 else 0
        self.win = MPI.Win.Allocate_shared(nbytes, dtype.itemsize, comm=node)
        self.unified = self.win.Get_attr(MPI.WIN_MODEL) == MPI.WIN_UNIFIED
        memory, _ = self.win.Shared_query(0)
        whole = np.frombuffer(memory, dtype=dtype, count=(self.ranks + 1) * stride)
        self.slots = [whole[r * stride : r * stride + size] for r in range(self.ranks)]
        self.result = whole[self.ranks * stride : self.ranks * stride + size]
        self.buffer = self.slots[rank]
        self.buffer.fill(0)
        self.lo, self.hi = chunk_bounds(size, rank, self.ranks, dtype.itemsize)
        # one passive-target epoch for the window's life: Win.Sync is valid only inside one;
        # MODE_NOCHECK: no rank ever takes an exclusive lock, so no lock need be acquired
        self.win.Lock_all(MPI.MODE_NOCHECK)
        self.open = True

    def _sync(self, what: str) -> None:
        # stores before the barrier visible to the others; loads after it not served early
        self.win.Sync()
        self.world.barrier(what, self.node)
        self.win.Sync()

    def sum(self, what: str) -> np.ndarray:
        """Every rank's ``buffer`` summed, in rank order, into ``result``: ``(size,)``."""
        self._sync(what)  # sync 1: every slot is packed
        lo, hi = self.lo, self.hi
        out = self.result[lo:hi]
        if self.ranks == 1:
            np.copyto(out, self.slots[0][lo:hi])
        else:
            np.add(self.slots[0][lo:hi], self.slots[1][lo:hi], out=out)
            for slot in self.slots[2:]:
                np.add(out, slot[lo:hi], out=out)
        self._sync(what)  # sync 2: the sum is whole, and every slot has been read
        return self.result

    def close(self) -> None:
        """Free the window (collective: every rank calls it at the end of ``fit``). After a
        timeout the window is left to the process's end (the job is aborted then)."""
        if not self.open:
            return
        self.open = False
        if self.world.broken:
            return
        self.world.barrier("the gradient window's release", self.node)
        self.win.Unlock_all()
        self.win.Free()
        self.node.Free()


def one_host(world: World) -> Any:
    """The host's communicator when every rank of ``world`` is on this host, else None."""
    MPI = world._mpi
    world.barrier("the split of the ranks by host")
    node = world.comm.Split_type(MPI.COMM_TYPE_SHARED, key=world.rank)
    if int(node.Get_size()) == world.size:
        return node
    node.Free()
    return None


def gradient_sum(world: World, size: int, dtype: Any) -> AllreduceSum | SharedSum:
    """The sum ``world.reduce`` asks for, for a bucket of ``size`` numbers of ``dtype``.

    Raises:
        ConfigError: ``reduce="shm"`` and the ranks are on several hosts (or the MPI library
            offers no shared window in the unified memory model).
    """
    chosen = _choose(world, size, dtype)
    world.summed_by = chosen.kind
    return chosen


def _choose(world: World, size: int, dtype: Any) -> AllreduceSum | SharedSum:
    if world.reduce == "mpi" or (world.reduce == "auto" and world.size == 1):
        return AllreduceSum(world, size, dtype)
    node = one_host(world)
    if node is None:
        if world.reduce == "shm":
            raise ConfigError(
                f"reduce: 'shm' sums through shared memory, which needs every rank on one "
                f"host, but these {world.size} ranks span several hosts: expected 'auto' or "
                "'mpi'"
            )
        return AllreduceSum(world, size, dtype)
    need = window_bytes(size, dtype, world.size)
    free = shm_free_bytes()
    # one answer for all ranks (the room may change between their looks): any rank short
    short = world.any(free is not None and free < need, "the check of shared memory")
    if short:
        mb = f"the gradient window needs {need / 2**20:.0f} MB in {SHM_DIR}, " + (
            f"{free / 2**20:.0f} MB are free" if free is not None else "less is free"
        )  # fmt: skip
        if world.reduce == "shm":
            node.Free()
            raise ConfigError(
                f"reduce: 'shm': {mb}: expected more room there (a container's "
                "--shm-size), or reduce 'mpi'"
            )
        if world.is_root:
            report.warn(
                f"distributed: {mb}: the gradients are summed by Allreduce instead (slower "
                "on one host); give it more room (a container's --shm-size) to sum through "
                "shared memory"
            )
        node.Free()
        return AllreduceSum(world, size, dtype)
    shared = SharedSum(world, node, size, dtype)
    if shared.unified:
        return shared
    shared.close()
    if world.reduce == "shm":
        raise ConfigError(
            "reduce: 'shm' needs a shared window in MPI's unified memory model, which this "
            "MPI library does not give: expected 'auto' or 'mpi'"
        )
    return AllreduceSum(world, size, dtype)
