"""Training: the Trainer (fit / evaluate / predict), its callbacks, metrics and validation."""

from . import callbacks, metrics
from .callbacks import Callback, CallbackList, History
from .metrics import METRICS, accuracy, resolve_metrics
from .trainer import Trainer
from .validation import cross_validate

__all__ = [
    "METRICS",
    "Callback",
    "CallbackList",
    "History",
    "Trainer",
    "accuracy",
    "callbacks",
    "cross_validate",
    "metrics",
    "resolve_metrics",
]
