"""``dp.callbacks``: every callback a user passes to ``Trainer(callbacks=[...])``, in one place.

The training loop's own callbacks live in :mod:`deltaprop.train.callbacks`; the
GradientMonitor records gradient health and so lives with the other diagnostics
(:mod:`deltaprop.diagnostics.monitor`), one layer up. This module gathers both, so that
``dp.callbacks.GradientMonitor`` and ``dp.callbacks.EarlyStopping`` sit side by side without
``train`` importing ``diagnostics``.
"""

from .diagnostics.monitor import GradientMonitor  # noqa: F401
from .train.callbacks import *  # noqa: F403
from .train.callbacks import __all__ as _train_callbacks

__all__ = sorted([*_train_callbacks, "GradientMonitor"])
