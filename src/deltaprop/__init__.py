"""deltaprop: neural networks trained by a backpropagation engine you can read and check.

>>> import deltaprop as dp
>>> x = dp.tensor([[1.0, -2.0]], requires_grad=True)
>>> (x * x).sum().backward(); x.grad.numpy()   # d(x^2)/dx = 2x
array([[ 2., -4.]], dtype=float32)
"""

from . import callbacks, data, diagnostics, nn, ops, optim, parallel, recipe, train, viz  # noqa: F401  (ops: Tensor methods)
from .autograd import GradcheckError, Tensor, gradcheck, tensor
from .backend import device, seed, set_default_dtype
from .config import debug_mode, enable_grad, no_grad
from .errors import (
    ConfigError,
    DataError,
    DeltapropError,
    GraphError,
    ModelFileError,
    ShapeError,
    TrainingError,
)
from .io import load, load_weights, read_metadata, save
from .ops import concatenate, stack
from .recipe import Recipe, run
from .train import Trainer, cross_validate

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "DeltapropError",
    "GradcheckError",
    "GraphError",
    "ModelFileError",
    "Recipe",
    "ShapeError",
    "Tensor",
    "Trainer",
    "TrainingError",
    "callbacks",
    "concatenate",
    "cross_validate",
    "debug_mode",
    "device",
    "enable_grad",
    "gradcheck",
    "load",
    "load_weights",
    "read_metadata",
    "run",
    "save",
    "no_grad",
    "seed",
    "set_default_dtype",
    "stack",
    "tensor",
]
