"""Training: the Trainer (fit / evaluate / predict), its callbacks and its metrics."""

from . import callbacks, metrics
from .callbacks import Callback, CallbackList, History
from .metrics import METRICS, accuracy, resolve_metrics
from .trainer import Trainer

__all__ = [
    "METRICS",
    "Callback",
    "CallbackList",
    "History",
    "Trainer",
    "accuracy",
    "callbacks",
    "metrics",
    "resolve_metrics",
]
