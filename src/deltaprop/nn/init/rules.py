"""The initializers themselves: constants, plain random draws, and the variance-scaling rules
(Xavier/Glorot, He/Kaiming, LeCun, PyTorch's Linear default). Formulas: see the package
docstring of :mod:`deltaprop.nn.init`."""

from __future__ import annotations

import math

import numpy as np

from ...checks import check_choice, check_real
from ...errors import ConfigError
from .fans import calculate_gain, fans_of, fill, normal_fill, scale, target_shape, uniform_fill

# --- constant initializers --------------------------------------------------------------------


def zeros(target, *, dtype=None, generator=None):
    """All zeros (the default for biases)."""
    return constant(target, 0.0, dtype=dtype)


def ones(target, *, dtype=None, generator=None):
    """All ones."""
    return constant(target, 1.0, dtype=dtype)


def constant(target, value: float = 0.0, *, dtype=None, generator=None):
    """Every entry equal to ``value`` (0 by default, as Keras's Constant). By name:
    ``"constant:0.5"``."""
    return fill(target, np.full(target_shape(target), float(value)), dtype)


# --- plain random initializers ----------------------------------------------------------------


def uniform(target, a: float = 0.0, b: float = 1.0, *, generator=None, dtype=None):
    """U(a, b), as ``torch.nn.init.uniform_``."""
    if not b >= a:
        raise ConfigError(f"uniform: expected a <= b, got a={a!r}, b={b!r}")
    return uniform_fill(target, a, b, generator, dtype)


def normal(target, mean: float = 0.0, std: float = 1.0, *, generator=None, dtype=None):
    """N(mean, std^2), as ``torch.nn.init.normal_``."""
    std = check_real(std, "std")
    return normal_fill(target, mean, std, generator, dtype)


# --- variance scaling -------------------------------------------------------------------------


def xavier_uniform(target, gain: float = 1.0, *, fans=None, generator=None, dtype=None):
    """Glorot uniform: U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = fans_of(target, fans)
    bound = gain * math.sqrt(scale(6.0, fan_in + fan_out, "xavier_uniform"))
    return uniform_fill(target, -bound, bound, generator, dtype)


def xavier_normal(target, gain: float = 1.0, *, fans=None, generator=None, dtype=None):
    """Glorot normal: N(0, s^2), s = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fans_of(target, fans)
    std = gain * math.sqrt(scale(2.0, fan_in + fan_out, "xavier_normal"))
    return normal_fill(target, 0.0, std, generator, dtype)


def _kaiming_std(target, a, mode, nonlinearity, fans, what) -> float:
    mode = check_choice(mode, ("fan_in", "fan_out"), "mode")
    fan_in, fan_out = fans_of(target, fans)
    fan = fan_in if mode == "fan_in" else fan_out
    gain = calculate_gain(nonlinearity, a)
    return gain * math.sqrt(scale(1.0, fan, what))


def he_uniform(
    target,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "relu",
    *,
    fans=None,
    generator=None,
    dtype=None,
):
    """Kaiming uniform (``torch.nn.init.kaiming_uniform_``): U(-b, b), b = gain * sqrt(3 / fan),
    gain = calculate_gain(nonlinearity, a); ``a`` is the leaky_relu slope."""
    bound = math.sqrt(3.0) * _kaiming_std(target, a, mode, nonlinearity, fans, "he_uniform")
    return uniform_fill(target, -bound, bound, generator, dtype)


def he_normal(
    target,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "relu",
    *,
    fans=None,
    generator=None,
    dtype=None,
):
    """Kaiming normal (``torch.nn.init.kaiming_normal_``): N(0, s^2), s = gain / sqrt(fan)."""
    std = _kaiming_std(target, a, mode, nonlinearity, fans, "he_normal")
    return normal_fill(target, 0.0, std, generator, dtype)


def lecun_uniform(target, *, fans=None, generator=None, dtype=None):
    """LeCun uniform: U(-b, b), b = sqrt(3 / fan_in), i.e. variance 1 / fan_in."""
    fan_in, _ = fans_of(target, fans)
    bound = math.sqrt(scale(3.0, fan_in, "lecun_uniform"))
    return uniform_fill(target, -bound, bound, generator, dtype)


def lecun_normal(target, *, fans=None, generator=None, dtype=None):
    """LeCun normal: N(0, 1 / fan_in) (a plain normal, not Keras's truncated one)."""
    fan_in, _ = fans_of(target, fans)
    std = math.sqrt(scale(1.0, fan_in, "lecun_normal"))
    return normal_fill(target, 0.0, std, generator, dtype)


def torch_default(target, *, fans=None, generator=None, dtype=None):
    """PyTorch's default for ``nn.Linear`` weights and biases: U(-b, b), b = 1 / sqrt(fan_in)
    (kaiming_uniform with a = sqrt(5)); the default init of deltaprop's Linear."""
    fan_in, _ = fans_of(target, fans)
    bound = math.sqrt(scale(1.0, fan_in, "torch_default"))
    return uniform_fill(target, -bound, bound, generator, dtype)
