"""Seeds for scikit-learn's ``random_state`` and NumPy generators in :mod:`deltaprop.data`."""

from __future__ import annotations

from ..backend import rng


def seed_int(seed: int | None) -> int:
    """``seed`` as an int; None draws one from deltaprop's generator, so that ``dp.seed(n)``
    makes unseeded calls (splits, generated data sets) reproducible too."""
    return int(rng().integers(0, 2**31 - 1)) if seed is None else int(seed)
