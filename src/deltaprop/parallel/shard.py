"""Sharding a global batch over the ranks: rank r trains on rows ``[lo, hi)`` of every batch.

Every rank holds all the data and visits the rows in the same shuffled order (one generator,
the same on every rank), so a global batch is the same rows on every rank and each takes its
own contiguous part; the parts differ in size by at most one row.
"""

from __future__ import annotations

from ..errors import ConfigError


def shard_bounds(n: int, rank: int, size: int) -> tuple[int, int]:
    """``(lo, hi)``: rank ``rank``'s rows of a batch of ``n`` rows split over ``size`` ranks.

    >>> [shard_bounds(10, r, 4) for r in range(4)]
    [(0, 3), (3, 6), (6, 8), (8, 10)]
    """
    base, extra = divmod(n, size)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


def check_global_batch(batch: int, size: int, name: str = "batch_size") -> None:
    """A global batch must give every rank at least one row."""
    if batch < size:
        raise ConfigError(
            f"{name}: the global batch of {batch} row(s) is smaller than the number of ranks "
            f"({size}); every rank needs at least one row: expected a batch of >= {size} "
            "rows, or fewer ranks"
        )
