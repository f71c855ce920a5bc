"""Fans, gains and filling: what every initializer in :mod:`deltaprop.nn.init` shares.

A *target* is a Parameter/Tensor or an array (filled in place) or a shape (a new NumPy array);
see the package docstring for the weight layouts that :func:`compute_fans` reads.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ... import backend
from ...autograd.tensor import Tensor
from ...checks import check_choice
from ...errors import ConfigError, ShapeError

_GAINS = {
    "linear": 1.0,
    "identity": 1.0,
    "sigmoid": 1.0,
    "conv1d": 1.0,
    "conv2d": 1.0,
    "conv3d": 1.0,
    "tanh": 5.0 / 3.0,
    "relu": math.sqrt(2.0),
    "selu": 3.0 / 4.0,
}
_NONLINEARITIES = (*_GAINS, "leaky_relu")  # leaky_relu's gain depends on its slope


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """PyTorch's recommended gain for a nonlinearity (``param`` is leaky_relu's slope, 0.01
    by default): linear/sigmoid 1, tanh 5/3, relu sqrt(2), leaky_relu sqrt(2 / (1 + a^2)),
    selu 3/4."""
    name = check_choice(nonlinearity, _NONLINEARITIES, "nonlinearity")
    if name == "leaky_relu":
        a = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1.0 + a * a))
    return _GAINS[name]


def compute_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight shape; see the package docstring for the layouts."""
    shape = tuple(int(s) for s in shape)
    if len(shape) == 0:
        raise ShapeError("fans: a 0-D value has no fan_in/fan_out; pass fans=(fan_in, fan_out)")
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]  # (in_features, out_features)
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive  # (out_channels, in_channels, *kernel)


def fans_of(target: Any, fans: tuple[int, int] | None) -> tuple[int, int]:
    """``fans`` as given (a layer with its own layout), else :func:`compute_fans` of the
    target's shape."""
    if fans is not None:
        fan_in, fan_out = (int(f) for f in fans)
        return fan_in, fan_out
    return compute_fans(target_shape(target))


def scale(numerator: float, fan: int, what: str) -> float:
    """``numerator / fan``, or ShapeError for a weight with a zero-sized axis (no scale)."""
    if fan <= 0:
        raise ShapeError(f"{what}: fan is {fan}; a weight with a zero-sized axis has no scale")
    return numerator / fan


# --- filling ------------------------------------------------------------------------------------


def target_shape(target: Any) -> tuple[int, ...]:
    """The shape to fill: an int or tuple is a shape; a Tensor or array gives its own."""
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        return (int(target),)
    if isinstance(target, (tuple, list)):
        return tuple(int(s) for s in target)
    if isinstance(target, Tensor) or hasattr(target, "shape"):
        return tuple(target.shape)
    kind = type(target).__name__
    raise ConfigError(f"initializer target: expected a Parameter, an array or a shape, got {kind}")


def fill(target: Any, values: np.ndarray, dtype=None):
    """Write ``values`` into ``target`` in place (Tensor or array), or return them as a new
    array when ``target`` is a shape."""
    if isinstance(target, Tensor):
        array = target.data
    elif hasattr(target, "shape") and hasattr(target, "dtype"):
        array = target
    else:
        out_dtype = backend.default_dtype() if dtype is None else np.dtype(dtype)
        return np.asarray(values, dtype=out_dtype)
    xp = backend.xp_of(array)
    array[...] = xp.asarray(values, dtype=array.dtype)
    return target


def generator_or_default(generator: np.random.Generator | None) -> np.random.Generator:
    # Looked up at call time: dp.seed replaces the library generator.
    return generator if generator is not None else backend.rng()


def uniform_fill(target, low: float, high: float, generator, dtype):
    """``target`` filled from U(low, high)."""
    draws = generator_or_default(generator).uniform(low, high, size=target_shape(target))
    return fill(target, draws, dtype)


def normal_fill(target, mean: float, std: float, generator, dtype):
    """``target`` filled from N(mean, std^2)."""
    draws = generator_or_default(generator).normal(mean, std, size=target_shape(target))
    return fill(target, draws, dtype)
