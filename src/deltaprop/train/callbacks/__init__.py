"""Callbacks: objects with hooks that ``Trainer.fit`` calls around epochs and batches."""

from .base import Callback, CallbackList
from .history import History

__all__ = ["Callback", "CallbackList", "History"]
