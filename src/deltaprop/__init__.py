"""deltaprop: neural networks trained by a backpropagation engine you can read and check.

>>> import deltaprop as dp
>>> x = dp.tensor([[1.0, -2.0]], requires_grad=True)
>>> (x * x).sum().backward(); x.grad.numpy()   # d(x^2)/dx = 2x
array([[ 2., -4.]], dtype=float32)
"""

from . import ops  # noqa: F401  (attaches Tensor's operator methods)
from .autograd import GradcheckError, Tensor, gradcheck, tensor
from .backend import seed, set_default_dtype
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
from .ops import concatenate, stack

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "DeltapropError",
    "GradcheckError",
    "GraphError",
    "ModelFileError",
    "ShapeError",
    "Tensor",
    "TrainingError",
    "concatenate",
    "debug_mode",
    "enable_grad",
    "gradcheck",
    "no_grad",
    "seed",
    "set_default_dtype",
    "stack",
    "tensor",
]
