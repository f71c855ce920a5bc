"""Error types. Every message names the argument, what was expected and what came."""

from __future__ import annotations


class DeltapropError(Exception):
    """Base class of every error deltaprop raises on purpose."""


class ShapeError(DeltapropError, ValueError):
    """Arrays whose shapes do not fit the operation or the model."""


class DataError(DeltapropError, ValueError):
    """Bad data: NaN/Inf, empty arrays, mismatched lengths, labels that are not 0..k-1."""


class ConfigError(DeltapropError, ValueError):
    """An unknown option or an out-of-range value; the message lists what is allowed."""


class ModelFileError(DeltapropError, OSError):
    """A model or checkpoint file that is missing, truncated, corrupt, foreign or mismatched."""


class WeightsMismatchError(ModelFileError, ShapeError):
    """Weights that do not fit a model (a tensor of another shape): a ModelFileError, as a file
    of weights that does not match is one, and a ShapeError, as it was before transfer learning
    made loading weights from elsewhere common; ``except`` either catches it."""


class TrainingError(DeltapropError, RuntimeError):
    """Training that cannot go on, e.g. a loss that became NaN/Inf."""


class GraphError(DeltapropError, RuntimeError):
    """Misuse of the autograd graph, e.g. a second backward through freed buffers."""
