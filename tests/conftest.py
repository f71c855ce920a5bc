"""Shared test data and markers.

Tests ask for ``toy`` to get a small classification set: ``toy(n=16, d=3, seed=0)`` returns
``(X, y)`` with ``X`` standard normal, float32, (n, d), and ``y`` int64, (n,): ``X[:, 0] > 0``
(or, with ``rule="sum2"``, ``X[:, 0] + X[:, 1] > 0``). ``rule="random"`` with ``k`` classes draws
labels 0..k-1 at random (no signal; for gradient statistics, not for learning).

Slow tests (subprocess CLI runs, SIGKILL/resume, examples, the browser) carry
``@pytest.mark.slow``; ``pytest -m "not slow"`` leaves them out while developing. CI runs all.
"""

from __future__ import annotations

import numpy as np
import pytest


def _toy(n: int = 16, d: int = 3, seed: int = 0, rule: str = "x0", k: int = 2):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    if rule == "x0":
        y = (X[:, 0] > 0).astype(np.int64)
    elif rule == "sum2":
        y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    elif rule == "random":
        y = rng.integers(0, k, n).astype(np.int64)
    else:  # pragma: no cover - a typo in a test
        raise ValueError(f"rule: expected 'x0', 'sum2' or 'random', got {rule!r}")
    return X, y


@pytest.fixture
def toy():
    """The factory ``toy(n=16, d=3, seed=0, rule="x0", k=2) -> (X, y)`` (see the module doc)."""
    return _toy
