"""Normalization layers: BatchNorm1d, BatchNorm2d and LayerNorm (the math is in
:mod:`deltaprop.ops.norm`).

BatchNorm1d and BatchNorm2d keep their running statistics as buffers: saved with the model, never
optimized.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .. import ops
from ..autograd.tensor import Tensor, as_tensor
from ..checks import check_bool, check_fraction, check_int, check_optional, check_real
from ..errors import ConfigError, ShapeError
from .linear import resolve_dtype
from .module import Module, Parameter


class BatchNorm1d(Module):
    """Batch normalization of x (N, C) or (N, C, L) per channel C, as ``torch.nn.BatchNorm1d``.

    Training: normalize with the batch mean and (biased) variance, and update the running
    statistics ``running = (1 - momentum) * running + momentum * batch`` (the running variance
    is the unbiased batch variance); ``momentum=None`` makes them a cumulative average over
    ``num_batches_tracked`` batches. Eval: normalize with the running statistics. Without
    ``track_running_stats`` there are none, and batch statistics are used in both modes.

    Args:
        num_features: C, the number of channels.
        eps: added to the variance before the square root.
        momentum: weight of the new batch in the running statistics, in [0, 1], or None.
        affine: learn a per-channel ``weight`` (ones) and ``bias`` (zeros).
        track_running_stats: keep ``running_mean`` (zeros), ``running_var`` (ones) and
            ``num_batches_tracked`` buffers.
        dtype: "float32" or "float64" (the default float dtype when None).
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        dtype=None,
    ) -> None:
        super().__init__()
        self.num_features = check_int(num_features, "num_features")
        self.eps = check_real(eps, "eps", strict=True)
        self.momentum = check_optional(
            check_fraction, momentum, "momentum", closed_low=True, closed_high=True
        )
        self.affine = check_bool(affine, "affine")
        self.track_running_stats = check_bool(track_running_stats, "track_running_stats")
        dtype_name = resolve_dtype(dtype)
        c = self.num_features
        if self.affine:
            self.weight = Parameter(np.ones(c), dtype=dtype_name)
            self.bias = Parameter(np.zeros(c), dtype=dtype_name)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(c), dtype=dtype_name))
            self.register_buffer("running_var", Tensor(np.ones(c), dtype=dtype_name))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None
        self._dtype = dtype_name

    _NDIMS: tuple[int, ...] = (2, 3)  # the input ranks this layer takes

    def _expected(self) -> str:
        c = self.num_features
        return f"(N, {c}) or (N, {c}, L)"

    def count_batch(self) -> float:
        """A training batch: counted (when the layer tracks running statistics), and the
        momentum its running statistics move by (``momentum=None``: 1 / the count, a
        cumulative average). The layer's forward calls it, and so do the compiled step's
        replays, which do not run the forward."""
        if self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:
                return 1.0 / float(self.num_batches_tracked.data)
        return 0.0 if self.momentum is None else self.momentum

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            x = as_tensor(x, like=self.weight)
        if x.ndim not in self._NDIMS or x.shape[1] != self.num_features:
            raise ShapeError(
                f"{type(self).__name__}: expected x of shape {self._expected()}, got {x.shape}"
            )
        use_batch_stats = self.training or self.running_mean is None
        if use_batch_stats and x.size // self.num_features <= 1:
            # Checked here as well as in the op so that a failed call changes no buffer.
            raise ShapeError(
                f"{type(self).__name__}: expected more than 1 value per channel when training, "
                f"got input of shape {x.shape}"
            )
        if self.training:
            momentum = self.count_batch()
        else:
            momentum = 0.0 if self.momentum is None else self.momentum
        return ops.batch_norm(
            x,
            self.weight,
            self.bias,
            self.running_mean,
            self.running_var,
            training=use_batch_stats,
            momentum=momentum,
            eps=self.eps,
        )

    def get_config(self) -> dict[str, Any]:
        return {
            "num_features": self.num_features,
            "eps": self.eps,
            "momentum": self.momentum,
            "affine": self.affine,
            "track_running_stats": self.track_running_stats,
            "dtype": self._dtype,
        }

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, track_running_stats={self.track_running_stats}"
        )


class BatchNorm2d(BatchNorm1d):
    """Batch normalization of images x (N, C, H, W) per channel C, over (N, H, W), as
    ``torch.nn.BatchNorm2d``: the same op, arguments, buffers and running statistics as
    :class:`BatchNorm1d` (see there), for 4-D input."""

    _NDIMS = (4,)

    def _expected(self) -> str:
        return f"(N, {self.num_features}, H, W)"


class LayerNorm(Module):
    """Layer normalization over the trailing ``normalized_shape`` axes, as ``torch.nn.LayerNorm``:
    each sample is normalized by its own mean and biased variance (so training and eval are
    the same), then scaled by ``weight`` (ones) and shifted by ``bias`` (zeros).

    Args:
        normalized_shape: an int (the last axis) or a tuple (the last len(tuple) axes).
        eps: added to the variance before the square root.
        elementwise_affine: learn ``weight`` (and ``bias``, see below) of that shape.
        bias: learn ``bias`` as well (only with ``elementwise_affine``).
        dtype: "float32" or "float64" (the default float dtype when None).
    """

    def __init__(
        self,
        normalized_shape,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        dtype=None,
    ) -> None:
        super().__init__()
        shape = normalized_shape
        if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
            shape = (shape,)
        if not isinstance(shape, (tuple, list)) or not shape:
            raise ConfigError(
                f"normalized_shape: expected a positive integer or a non-empty tuple of them, "
                f"got {normalized_shape!r}"
            )
        self.normalized_shape = tuple(check_int(n, "normalized_shape") for n in shape)
        self.eps = check_real(eps, "eps", strict=True)
        self.elementwise_affine = check_bool(elementwise_affine, "elementwise_affine")
        use_bias = check_bool(bias, "bias")
        dtype_name = resolve_dtype(dtype)
        if self.elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape), dtype=dtype_name)
        else:
            self.register_parameter("weight", None)
        if self.elementwise_affine and use_bias:
            self.bias = Parameter(np.zeros(self.normalized_shape), dtype=dtype_name)
        else:
            self.register_parameter("bias", None)
        self._dtype = dtype_name

    def forward(self, x: Tensor) -> Tensor:
        return ops.layer_norm(x, self.normalized_shape, self.weight, self.bias, eps=self.eps)

    def get_config(self) -> dict[str, Any]:
        return {
            "normalized_shape": list(self.normalized_shape),
            "eps": self.eps,
            "elementwise_affine": self.elementwise_affine,
            "bias": self.bias is not None,
            "dtype": self._dtype,
        }

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )
