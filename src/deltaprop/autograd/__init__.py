"""The engine: Tensor, Function, the backward walk and gradient checks."""

from .engine import backward, unbroadcast
from .function import Function
from .gradcheck import GradcheckError, gradcheck, gradcheck_errors
from .tensor import Tensor, as_tensor, tensor

__all__ = [
    "Function",
    "GradcheckError",
    "Tensor",
    "as_tensor",
    "backward",
    "gradcheck",
    "gradcheck_errors",
    "tensor",
    "unbroadcast",
]
