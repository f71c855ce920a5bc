"""Data-parallel training on MPI (mpi4py): every rank holds the model, each global batch is
split over the ranks, the gradients are summed in one bucket per step: by ``Allreduce``, or
through an MPI shared-memory window when every rank is on one host (:mod:`.gradsum`).

``Trainer(..., distributed=True)`` (or ``distributed=World(timeout=60)``) and
``mpiexec -n 4 deltaprop train ... --distributed`` use it; see the README's "Training on
several processes". Rank 0 prints, logs, writes checkpoints and model files.

>>> from deltaprop import parallel
>>> parallel.shard_bounds(10, rank=1, size=4)
(3, 6)
"""

from __future__ import annotations

from .bucket import GradBucket
from .shard import check_global_batch, shard_bounds
from .world import (
    DEFAULT_TIMEOUT,
    REDUCE_ENV,
    REDUCES,
    TIMEOUT_ENV,
    RankTimeout,
    World,
    is_root,
    launched_size,
    mpi,
    mpi_available,
    rank,
    size,
    world,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "REDUCES",
    "REDUCE_ENV",
    "TIMEOUT_ENV",
    "GradBucket",
    "RankTimeout",
    "World",
    "check_global_batch",
    "is_root",
    "launched_size",
    "mpi",
    "mpi_available",
    "rank",
    "shard_bounds",
    "size",
    "world",
]
