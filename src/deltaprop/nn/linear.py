"""Linear: the dense layer, y = x @ W + b, with W shaped (in_features, out_features)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend, ops
from ..autograd.tensor import Tensor
from ..checks import check_bool, check_int, check_real
from ..errors import ConfigError
from .init import resolve as resolve_initializer
from .module import Module, Parameter

_DTYPES = ("float32", "float64")


def resolve_dtype(dtype: Any) -> str:
    """``None`` -> the default float dtype's name; otherwise "float32" or "float64"."""
    if dtype is None:
        return np.dtype(backend.default_dtype()).name
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in _DTYPES:
        raise ConfigError(f"dtype: expected one of {_DTYPES}, got {dtype!r}")
    return name


class Linear(Module):
    """Fully connected layer: ``y = x @ weight + bias``.

    Shapes: x (..., in_features) -> y (..., out_features); ``weight`` (in_features,
    out_features) -- the transpose of PyTorch's (out, in) -- and ``bias`` (out_features,).

    Args:
        in_features, out_features: sizes of the input and output features.
        bias: whether to add a learned bias.
        init: name of the weight initializer (see :mod:`deltaprop.nn.init`). The default,
            ``"torch_default"``, is PyTorch's own Linear default, U(-1/sqrt(in), 1/sqrt(in));
            ``"he"`` (Kaiming normal) suits ReLU nets, ``"xavier"`` suits tanh/sigmoid ones.
        bias_init: name of the bias initializer, ``"zeros"`` by default (PyTorch draws biases
            from U(+-1/sqrt(in)) instead: ``bias_init="torch_default"``). Fan-based names use the
            weight's fans. "All weights 1, all biases 0" is ``init="ones"``.
        dtype: "float32" or "float64" (the default float dtype when None).
        generator: a ``numpy.random.Generator`` for the initial values (deltaprop's
            generator, seeded by ``dp.seed``, when None). Not part of the saved config.
        l1, l2: this layer's weight penalties, ``l1 * sum|W| + l2 * sum W^2`` added to the
            loss by the Trainer (on ``weight`` only, not the bias; on top of the Trainer's own
            ``l1``/``l2``). In the config when not 0, so saved models keep them. Default 0.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        init: str = "torch_default",
        bias_init: str = "zeros",
        dtype=None,
        generator: np.random.Generator | None = None,
        l1: float = 0.0,
        l2: float = 0.0,
    ) -> None:
        super().__init__()
        self.in_features = check_int(in_features, "in_features")
        self.out_features = check_int(out_features, "out_features")
        bias = check_bool(bias, "bias")
        # Resolved once, now, so that a typo fails here naming the argument; the config keeps
        # the names as given.
        fill_weight = resolve_initializer(init, "init")
        fill_bias = resolve_initializer(bias_init, "bias_init")
        self.init, self.bias_init = init, bias_init
        dtype_name = resolve_dtype(dtype)
        self.l1 = check_real(l1, "l1")
        self.l2 = check_real(l2, "l2")
        shape = fans = (self.in_features, self.out_features)  # (in, out): the fans, in order
        weight = fill_weight(shape, fans=fans, generator=generator, dtype=dtype_name)
        self.weight = Parameter(weight, dtype=dtype_name)
        if bias:
            b = fill_bias((self.out_features,), fans=fans, generator=generator, dtype=dtype_name)
            self.bias = Parameter(b, dtype=dtype_name)
        else:
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        return ops.linear(x, self.weight, self.bias)

    def get_config(self) -> dict[str, Any]:
        config = {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bias": self.bias is not None,
            "init": self.init,
            "bias_init": self.bias_init,
            "dtype": self.weight.dtype.name,
        }
        # Penalties only when set: configs (and files) of layers without them stay as before.
        for key in ("l1", "l2"):
            if getattr(self, key):
                config[key] = getattr(self, key)
        return config

    def extra_repr(self) -> str:
        penalties = "".join(f", {k}={v}" for k, v in (("l1", self.l1), ("l2", self.l2)) if v)
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}{penalties}"
        )
