"""Batching for the three kinds of gradient descent.

- ``"batch"``: one update per epoch on the whole training set (batch size = n_samples);
- ``"stochastic"``: one update per example (batch size 1);
- ``"minibatch"``: one update per ``batch_size`` examples.

This is on the hot path: at batch size 1 an epoch of 60 000 rows is 60 000 batches. So a shuffled
epoch permutes X and y once (one fancy-index copy each) and then hands out contiguous slices of
the permuted copies, which are views and cost no copying; an unshuffled epoch slices X directly.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..backend import rng as _library_rng
from ..backend import spawn_rng, xp_of
from ..checks import check_choice, check_int
from ..errors import DataError

DESCENTS = ("batch", "stochastic", "minibatch")


def resolve_batch_size(descent: str, batch_size: int | None, n_samples: int) -> int:
    """The batch size a descent mode uses on ``n_samples`` rows.

    ``"batch"`` -> n_samples, ``"stochastic"`` -> 1 (``batch_size`` is ignored by both),
    ``"minibatch"`` -> ``batch_size``, capped at n_samples.

    Raises:
        ConfigError: unknown ``descent`` (the three are listed), or a ``batch_size`` that is not an
            integer >= 1 for minibatch. DataError: ``n_samples < 1``.
    """
    key = check_choice(descent, DESCENTS, "descent")
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) or n_samples < 1:
        raise DataError(f"n_samples: expected at least one training row, got {n_samples!r}")
    if key == "minibatch":
        batch_size = check_int(batch_size, "batch_size")
    return batch_size_for(key, batch_size, int(n_samples))


def batch_size_for(descent: str, batch_size: int | None, n_samples: int) -> int:
    """:func:`resolve_batch_size` without the checks, for callers that made them already
    (``Trainer.fit``): ``descent`` is one of :data:`DESCENTS`, and ``batch_size`` an int >= 1
    for "minibatch"."""
    if descent == "batch":
        return n_samples
    if descent == "stochastic":
        return 1
    return min(batch_size, n_samples)


def n_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    """Number of batches per epoch: ceil(n / batch_size), or floor with ``drop_last``."""
    batch_size = check_int(batch_size, "batch_size")
    return n // batch_size if drop_last else -(-n // batch_size)


def _check_lengths(X: Any, y: Any) -> int:
    n = len(X)
    if y is not None and len(y) != n:
        raise DataError(f"X and y: expected the same number of rows, got {n} and {len(y)}")
    return n


def iterate_batches(
    X: Any,
    y: Any | None,
    batch_size: int,
    shuffle: bool = True,
    rng: np.random.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[Any, Any | None]]:
    """Return an iterator of ``(Xb, yb)`` batches that cover every row of one epoch exactly once.

    Args:
        X: (n_samples, ...) NumPy or CuPy array; y: (n_samples, ...) or None (then yb is None).
        batch_size: rows per batch; the last batch may be smaller unless ``drop_last``.
        shuffle: visit rows in a fresh random order drawn from ``rng``.
        rng: the generator for the order; None uses deltaprop's (reseeded by ``dp.seed``).
        drop_last: skip the last batch when it has fewer than ``batch_size`` rows.

    Returns:
        an iterator of Xb (b, ...) and yb (b, ...), views into X (unshuffled) or into one
        permuted copy made per epoch (shuffled).
    """
    # Check now, not at the first next(): errors should point at the call.
    bs = check_int(batch_size, "batch_size")
    X, y = _as_arrays(X, y)
    _check_lengths(X, y)
    return epoch_batches(X, y, bs, shuffle, rng, drop_last)


def _as_arrays(X: Any, y: Any | None) -> tuple[Any, Any | None]:
    """Lists become NumPy arrays; NumPy and CuPy arrays pass through untouched."""
    X = np.asarray(X) if xp_of(X) is np else X
    if y is not None:
        y = np.asarray(y) if xp_of(y) is np else y
    return X, y


def _index_for(a: Any, perm: np.ndarray) -> Any:
    """The permutation on the array's device (CuPy arrays want a CuPy index)."""
    xp = xp_of(a)
    return perm if xp is np else xp.asarray(perm)


def epoch_batches(
    X: Any,
    y: Any | None,
    batch_size: int,
    shuffle: bool,
    rng: np.random.Generator | None,
    drop_last: bool,
) -> Iterator[tuple[Any, Any | None]]:
    """:func:`iterate_batches` without the checks, for a caller that made them once (``fit``
    calls this every epoch): X and y are arrays with the same number of rows, ``batch_size``
    an int >= 1. A generator: nothing runs until the first ``next()``."""
    bs = batch_size
    n = len(X)
    if shuffle:
        perm = (rng if rng is not None else _library_rng()).permutation(n)
        X = X[_index_for(X, perm)]
        y = y[_index_for(y, perm)] if y is not None else None
    stop = n - n % bs if drop_last else n
    if y is None:
        for i in range(0, stop, bs):
            yield X[i : i + bs], None
    else:
        for i in range(0, stop, bs):
            yield X[i : i + bs], y[i : i + bs]


class DataLoader:
    """An iterable over ``(Xb, yb)`` batches; each ``iter()`` is one epoch in a fresh order.

    Args:
        X: (n_samples, ...) features; y: (n_samples, ...) targets or None.
        batch_size: rows per batch (see :func:`resolve_batch_size` for the descent modes).
        shuffle: reshuffle every epoch.
        drop_last: skip a last batch smaller than ``batch_size``.
        seed: seeds this loader's own generator, so two loaders with the same seed give the
            same sequence of epochs; None draws the seed from deltaprop's generator.
    """

    def __init__(
        self,
        X: Any,
        y: Any | None = None,
        batch_size: int = 32,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int | None = None,
    ) -> None:
        self.batch_size = check_int(batch_size, "batch_size")
        self.X, self.y = _as_arrays(X, y)
        self.n_samples = _check_lengths(self.X, self.y)
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        self.rng = spawn_rng(seed)

    def __iter__(self) -> Iterator[tuple[Any, Any | None]]:
        return iterate_batches(
            self.X, self.y, self.batch_size, self.shuffle, self.rng, self.drop_last
        )

    def __len__(self) -> int:
        return n_batches(self.n_samples, self.batch_size, self.drop_last)

    def __repr__(self) -> str:
        return (
            f"DataLoader(n_samples={self.n_samples}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last})"
        )
