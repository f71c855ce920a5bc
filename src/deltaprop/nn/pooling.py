"""Pooling layers over images (N, C, H, W): MaxPool2d, AvgPool2d, AdaptiveAvgPool2d(1) and its
alias GlobalAvgPool2d. No parameters; the math is in :mod:`deltaprop.ops.pool`."""

from __future__ import annotations

from typing import Any

from .. import ops
from ..autograd.tensor import Tensor
from ..checks import check_pair
from ..errors import ConfigError
from ..ops.pool import check_pool_args
from .conv import pair_config
from .module import Module


class _Pool2d(Module):
    """What MaxPool2d and AvgPool2d share: the checked window arguments and the config."""

    _op = staticmethod(ops.max_pool2d)

    def __init__(self, kernel_size, stride=None, padding=0) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = check_pool_args(kernel_size, stride, padding)
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        # How errors name this layer: "MaxPool2d(2x2, stride 2): expected input (N, C, H, W)..."
        stride_text = str(sh) if sh == sw else f"{sh},{sw}"
        object.__setattr__(self, "_who", f"{type(self).__name__}({kh}x{kw}, stride {stride_text})")

    def forward(self, x: Tensor) -> Tensor:
        return self._op(x, self.kernel_size, self.stride, self.padding, who=self._who)

    def get_config(self) -> dict[str, Any]:
        return {
            "kernel_size": pair_config(self.kernel_size),
            "stride": pair_config(self.stride),
            "padding": pair_config(self.padding),
        }


class MaxPool2d(_Pool2d):
    """Max over each kH x kW window: x (N, C, H, W) -> (N, C, OH, OW), as
    ``torch.nn.MaxPool2d``; OH = (H + 2 padding - kH) // stride + 1.

    Args:
        kernel_size: an int or an (h, w) pair.
        stride: the step between windows; the kernel size when None (windows side by side).
        padding: -inf added on each side, at most half the kernel.
    """

    _op = staticmethod(ops.max_pool2d)


class AvgPool2d(_Pool2d):
    """Mean over each kH x kW window, as ``torch.nn.AvgPool2d`` (zero padding counted in the
    mean). Arguments as :class:`MaxPool2d`."""

    _op = staticmethod(ops.avg_pool2d)


class AdaptiveAvgPool2d(Module):
    """Global average pooling, x (N, C, H, W) -> (N, C, 1, 1): ``torch.nn.AdaptiveAvgPool2d(1)``.

    Only ``output_size=1`` is supported (a ConfigError for anything else). Follow it with
    Flatten for a (N, C) feature vector, e.g. in front of the classifier of a CNN whose input
    size may vary."""

    def __init__(self, output_size=1) -> None:
        super().__init__()
        if check_pair(output_size, "output_size") != (1, 1):
            raise ConfigError(
                f"output_size: only 1 (global average pooling) is supported, got {output_size!r}"
            )
        object.__setattr__(self, "_who", f"{type(self).__name__}(1)")

    def forward(self, x: Tensor) -> Tensor:
        return ops.adaptive_avg_pool2d(x, who=self._who)

    def get_config(self) -> dict[str, Any]:
        return {"output_size": 1}


class GlobalAvgPool2d(AdaptiveAvgPool2d):
    """The mean of each plane, x (N, C, H, W) -> (N, C, 1, 1): AdaptiveAvgPool2d(1) by the name
    Keras users know (Keras drops the 1x1 axes; add Flatten for that)."""

    def __init__(self) -> None:
        super().__init__(1)
        object.__setattr__(self, "_who", "GlobalAvgPool2d()")

    def get_config(self) -> dict[str, Any]:
        return {}
