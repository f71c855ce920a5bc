"""The old name of :mod:`deltaprop.train.state` (the training state of ``fit(checkpoint=...)``),
kept so that code importing ``deltaprop.train.checkpoint`` goes on working."""

from ..io import decode, encode, remove_stale_temporaries
from .state import *  # noqa: F403  (every public name of the training state)
from .state import __all__ as _state_names

__all__ = [*_state_names, "decode", "encode", "remove_stale_temporaries"]
