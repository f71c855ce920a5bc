"""Callbacks: objects with hooks that ``Trainer.fit`` calls around epochs and batches.

Keras's protocol (see :mod:`.base`): one shared ``logs`` dict, ``trainer.stop_training``.
"""

from .base import Callback, CallbackList
from .csv_logger import CSVLogger
from .early_stopping import EarlyStopping
from .history import History
from .lr import LearningRateScheduler, ReduceLROnPlateau
from .mlflow_logger import MLflowLogger
from .model_checkpoint import ModelCheckpoint
from .nan_guard import TerminateOnNaN
from .progress import ProgressBar
from .stall import StallWarning
from .tensorboard import TensorBoard
from .unfreezing import GradualUnfreezing

__all__ = [
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "GradualUnfreezing",
    "History",
    "LearningRateScheduler",
    "MLflowLogger",
    "ModelCheckpoint",
    "ProgressBar",
    "ReduceLROnPlateau",
    "StallWarning",
    "TensorBoard",
    "TerminateOnNaN",
]
