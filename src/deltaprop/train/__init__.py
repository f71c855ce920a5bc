"""Training: the Trainer (fit / evaluate / predict), its callbacks, metrics and cross-validation."""

from . import callbacks, metrics
from .callbacks import Callback, CallbackList, History
from .crossval import cross_validate
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
    "cross_validate",
    "metrics",
    "resolve_metrics",
]
