"""deltaprop: neural networks trained by a backpropagation engine you can read and check.

>>> import deltaprop as dp
>>> x = dp.tensor([[1.0, -2.0]], requires_grad=True)
>>> (x * x).sum().backward(); x.grad.numpy()   # d(x^2)/dx = 2x
array([[ 2., -4.]], dtype=float32)
"""

# ops attaches the Tensor methods; semi registers its methods with recipe.
from . import (  # noqa: F401
    callbacks,
    data,
    diagnostics,
    gan,
    nn,
    ops,
    optim,
    parallel,
    recipe,
    semi,
    train,
    tune,
    viz,
)
from .autograd import GradcheckError, Tensor, gradcheck, tensor
from .backend import device, seed, set_default_dtype
from .compile import compile_step
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
from .onnx import export_onnx  # the onnx package itself is imported only when exporting
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
    "compile_step",
    "concatenate",
    "cross_validate",
    "debug_mode",
    "device",
    "enable_grad",
    "export_onnx",
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
