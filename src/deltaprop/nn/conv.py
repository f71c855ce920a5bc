"""Conv2d: the 2-D convolution layer (the math is in :mod:`deltaprop.ops.conv`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..autograd.tensor import Tensor
from ..checks import check_bool, check_int, check_pair
from ..errors import ConfigError
from .init import resolve as resolve_initializer
from .linear import resolve_dtype
from .module import Module, Parameter


def pair_config(pair: tuple[int, int]) -> int | list[int]:
    """A checked (h, w) pair as a config value: one int when h == w, else [h, w] (JSON)."""
    return pair[0] if pair[0] == pair[1] else list(pair)


class Conv2d(Module):
    """2-D convolution: x (N, in_channels, H, W) -> (N, out_channels, OH, OW), as
    ``torch.nn.Conv2d`` (cross-correlation, zero padding).

    ``weight`` is (out_channels, in_channels, kH, kW) -- PyTorch's layout -- and ``bias``
    (out_channels,). OH = (H + 2 padding - dilation (kH - 1) - 1) // stride + 1, OW alike.

    Args:
        in_channels, out_channels: C_in and C_out.
        kernel_size, stride, padding, dilation: an int or an (h, w) pair each.
        bias: whether to add a learned bias per output channel.
        init: the weight initializer's name (:mod:`deltaprop.nn.init`). Fans are those of a
            kernel: fan_in = C_in kH kW, fan_out = C_out kH kW. The default, ``"torch_default"``,
            is PyTorch's Conv2d default, U(-1/sqrt(fan_in), 1/sqrt(fan_in)); ``"he"`` suits ReLU
            nets, ``"xavier"`` tanh/sigmoid ones.
        bias_init: the bias initializer, ``"zeros"`` by default as for Linear (PyTorch draws
            biases from U(+-1/sqrt(fan_in)): ``bias_init="torch_default"``).
        groups: must be 1 (grouped and depthwise convolutions are not implemented).
        dtype: "float32" or "float64" (the default float dtype when None).
        generator: a ``numpy.random.Generator`` for the initial values (deltaprop's, seeded by
            ``dp.seed``, when None). Not part of the saved config.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        bias: bool = True,
        init: str = "torch_default",
        bias_init: str = "zeros",
        groups: int = 1,
        dtype=None,
        generator: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = check_int(in_channels, "in_channels")
        self.out_channels = check_int(out_channels, "out_channels")
        self.kernel_size = check_pair(kernel_size, "kernel_size")
        self.stride = check_pair(stride, "stride")
        self.padding = check_pair(padding, "padding", minimum=0)
        self.dilation = check_pair(dilation, "dilation")
        if check_int(groups, "groups") != 1:
            raise ConfigError(f"groups: only groups=1 is supported, got {groups}")
        bias = check_bool(bias, "bias")
        fill_weight = resolve_initializer(init, "init")
        fill_bias = resolve_initializer(bias_init, "bias_init")
        self.init, self.bias_init = init, bias_init
        dtype_name = resolve_dtype(dtype)
        kh, kw = self.kernel_size
        shape = (self.out_channels, self.in_channels, kh, kw)
        fans = (self.in_channels * kh * kw, self.out_channels * kh * kw)
        weight = fill_weight(shape, fans=fans, generator=generator, dtype=dtype_name)
        self.weight = Parameter(weight, dtype=dtype_name)
        if bias:
            b = fill_bias((self.out_channels,), fans=fans, generator=generator, dtype=dtype_name)
            self.bias = Parameter(b, dtype=dtype_name)
        else:
            self.register_parameter("bias", None)
        # How errors name this layer: "Conv2d(3->16, 3x3): expected input (N, 3, H, W), ..."
        object.__setattr__(
            self, "_who", f"Conv2d({self.in_channels}->{self.out_channels}, {kh}x{kw})"
        )

    def forward(self, x: Tensor) -> Tensor:
        return ops.conv2d(
            x,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            self.dilation,
            who=self._who,
        )

    def get_config(self) -> dict[str, Any]:
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": pair_config(self.kernel_size),
            "stride": pair_config(self.stride),
            "padding": pair_config(self.padding),
            "dilation": pair_config(self.dilation),
            "bias": self.bias is not None,
            "init": self.init,
            "bias_init": self.bias_init,
            "dtype": self.weight.dtype.name,
        }

    def extra_repr(self) -> str:
        kh, kw = self.kernel_size
        parts = [f"{self.in_channels}, {self.out_channels}, kernel_size={kh}x{kw}"]
        for key, default in (("stride", 1), ("padding", 0), ("dilation", 1)):
            value = getattr(self, key)
            if value != (default, default):
                parts.append(f"{key}={pair_config(value)}")
        if self.bias is None:
            parts.append("bias=False")
        return ", ".join(parts)
