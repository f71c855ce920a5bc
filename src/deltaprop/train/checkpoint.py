"""The old name of :mod:`deltaprop.train.state` (the training state of ``fit(checkpoint=...)``),
kept so that code importing ``deltaprop.train.checkpoint`` goes on working."""

from ..io import decode, encode, remove_stale_temporaries
from .state import (
    FORMAT,
    VERSION,
    TrainingState,
    Writer,
    check_path,
    check_trainer,
    fit_settings,
    read,
    same_path,
    snapshot,
)

__all__ = [
    "FORMAT",
    "VERSION",
    "TrainingState",
    "Writer",
    "check_path",
    "check_trainer",
    "decode",
    "encode",
    "fit_settings",
    "read",
    "remove_stale_temporaries",
    "same_path",
    "snapshot",
]
