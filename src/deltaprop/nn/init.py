"""Weight initializers, with PyTorch's formulas and deltaprop's generator.

Each initializer takes a *target* and returns it filled:

- a ``Parameter``/``Tensor`` or a NumPy/CuPy array is filled **in place** and returned;
- a shape (``int`` or tuple) gives a **new** NumPy array (``dtype=`` or the default float dtype).

Random numbers come from ``generator=`` when given, else from deltaprop's generator
(:func:`deltaprop.backend.rng`, reseeded by ``dp.seed``); numpy's global state is never used.

Fans. deltaprop's Linear weight is shaped ``(in_features, out_features)`` (the op is x @ W + b),
so for a 2-D weight ``fan_in = shape[0]`` and ``fan_out = shape[1]`` -- the transpose of
PyTorch's ``(out, in)``, with the same numbers. A conv-shaped weight (ndim > 2) is read in
PyTorch's layout ``(out_channels, in_channels, *kernel)``: ``fan_in = in_channels * prod(kernel)``,
``fan_out = out_channels * prod(kernel)``. A 1-D shape (a bias) has ``fan_in = fan_out = n``.
A layer with another layout passes ``fans=(fan_in, fan_out)`` explicitly.

Variance-scaling rules (``n`` = the fan in use):

============================  ============================================================
``xavier_uniform``            U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out))   (Glorot)
``xavier_normal``             N(0, s^2), s = gain * sqrt(2 / (fan_in + fan_out))
``he_uniform``                U(-b, b), b = gain * sqrt(3 / n), gain = calculate_gain(nl, a)
``he_normal``                 N(0, s^2), s = gain / sqrt(n)   (Kaiming; plain normal, as torch)
``lecun_uniform``             U(-b, b), b = sqrt(3 / fan_in)    (variance 1 / fan_in)
``lecun_normal``              N(0, s^2), s = 1 / sqrt(fan_in)   (plain normal, not truncated)
``torch_default``             U(-b, b), b = 1 / sqrt(fan_in): what torch.nn.Linear does by
                              default (kaiming_uniform with a = sqrt(5)); variance 1/(3 fan_in)
============================  ============================================================

Name aliases (resolved by :func:`get_initializer`): ``"xavier"``/``"glorot"``/``"glorot_uniform"``
-> xavier_uniform, ``"glorot_normal"`` -> xavier_normal, ``"he"``/``"kaiming"``/
``"kaiming_normal"`` -> he_normal (fan_in, ReLU gain: the common choice for ReLU nets),
``"kaiming_uniform"`` -> he_uniform, ``"lecun"`` -> lecun_normal (the SELU choice),
``"default"``/``"pytorch"`` -> torch_default.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import backend
from ..autograd.tensor import Tensor
from ..errors import ConfigError, ShapeError
from ..names import lookup, normalize

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


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """PyTorch's recommended gain for a nonlinearity (``param`` is leaky_relu's slope, 0.01
    by default): linear/sigmoid 1, tanh 5/3, relu sqrt(2), leaky_relu sqrt(2 / (1 + a^2)),
    selu 3/4."""
    name = str(nonlinearity).lower()
    if name == "leaky_relu":
        a = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1.0 + a * a))
    if name not in _GAINS:
        allowed = sorted([*_GAINS, "leaky_relu"])
        raise ConfigError(f"nonlinearity: expected one of {allowed}, got {nonlinearity!r}")
    return _GAINS[name]


def compute_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight shape; see the module docstring for the layouts."""
    shape = tuple(int(s) for s in shape)
    if len(shape) == 0:
        raise ShapeError("fans: a 0-D value has no fan_in/fan_out; pass fans=(fan_in, fan_out)")
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]  # (in_features, out_features)
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive  # (out_channels, in_channels, *kernel)


# --- filling ------------------------------------------------------------------------------------


def _target_shape(target: Any) -> tuple[int, ...]:
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        return (int(target),)
    if isinstance(target, (tuple, list)):
        return tuple(int(s) for s in target)
    if isinstance(target, Tensor) or hasattr(target, "shape"):
        return tuple(target.shape)
    kind = type(target).__name__
    raise ConfigError(f"initializer target: expected a Parameter, an array or a shape, got {kind}")


def _fill(target: Any, values: np.ndarray, dtype=None):
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


def _gen(generator: np.random.Generator | None) -> np.random.Generator:
    # Looked up at call time: dp.seed replaces the library generator.
    return generator if generator is not None else backend.rng()


def _fans(target: Any, fans: tuple[int, int] | None) -> tuple[int, int]:
    if fans is not None:
        fan_in, fan_out = (int(f) for f in fans)
        return fan_in, fan_out
    return compute_fans(_target_shape(target))


def _uniform_fill(target, bound: float, generator, dtype):
    shape = _target_shape(target)
    return _fill(target, _gen(generator).uniform(-bound, bound, size=shape), dtype)


def _normal_fill(target, std: float, generator, dtype):
    shape = _target_shape(target)
    return _fill(target, _gen(generator).normal(0.0, std, size=shape), dtype)


def _safe_div(num: float, fan: int, what: str) -> float:
    if fan <= 0:
        raise ShapeError(f"{what}: fan is {fan}; a weight with a zero-sized axis has no scale")
    return num / fan


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
    return _fill(target, np.full(_target_shape(target), float(value)), dtype)


# --- plain random initializers ----------------------------------------------------------------


def uniform(target, a: float = 0.0, b: float = 1.0, *, generator=None, dtype=None):
    """U(a, b), as ``torch.nn.init.uniform_``."""
    if not b >= a:
        raise ConfigError(f"uniform: expected a <= b, got a={a!r}, b={b!r}")
    shape = _target_shape(target)
    return _fill(target, _gen(generator).uniform(a, b, size=shape), dtype)


def normal(target, mean: float = 0.0, std: float = 1.0, *, generator=None, dtype=None):
    """N(mean, std^2), as ``torch.nn.init.normal_``."""
    if not std >= 0:
        raise ConfigError(f"std: expected a non-negative number, got {std!r}")
    shape = _target_shape(target)
    return _fill(target, _gen(generator).normal(mean, std, size=shape), dtype)


# --- variance scaling -------------------------------------------------------------------------


def xavier_uniform(target, gain: float = 1.0, *, fans=None, generator=None, dtype=None):
    """Glorot uniform: U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(target, fans)
    bound = gain * math.sqrt(_safe_div(6.0, fan_in + fan_out, "xavier_uniform"))
    return _uniform_fill(target, bound, generator, dtype)


def xavier_normal(target, gain: float = 1.0, *, fans=None, generator=None, dtype=None):
    """Glorot normal: N(0, s^2), s = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(target, fans)
    std = gain * math.sqrt(_safe_div(2.0, fan_in + fan_out, "xavier_normal"))
    return _normal_fill(target, std, generator, dtype)


def _kaiming_scale(target, a, mode, nonlinearity, fans, what) -> float:
    if mode not in ("fan_in", "fan_out"):
        raise ConfigError(f"mode: expected 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(target, fans)
    fan = fan_in if mode == "fan_in" else fan_out
    gain = calculate_gain(nonlinearity, a)
    return gain * math.sqrt(_safe_div(1.0, fan, what))


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
    scale = _kaiming_scale(target, a, mode, nonlinearity, fans, "he_uniform")
    return _uniform_fill(target, math.sqrt(3.0) * scale, generator, dtype)


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
    std = _kaiming_scale(target, a, mode, nonlinearity, fans, "he_normal")
    return _normal_fill(target, std, generator, dtype)


def lecun_uniform(target, *, fans=None, generator=None, dtype=None):
    """LeCun uniform: U(-b, b), b = sqrt(3 / fan_in), i.e. variance 1 / fan_in."""
    fan_in, _ = _fans(target, fans)
    return _uniform_fill(
        target, math.sqrt(_safe_div(3.0, fan_in, "lecun_uniform")), generator, dtype
    )


def lecun_normal(target, *, fans=None, generator=None, dtype=None):
    """LeCun normal: N(0, 1 / fan_in) (a plain normal, not Keras's truncated one)."""
    fan_in, _ = _fans(target, fans)
    std = math.sqrt(_safe_div(1.0, fan_in, "lecun_normal"))
    return _normal_fill(target, std, generator, dtype)


def torch_default(target, *, fans=None, generator=None, dtype=None):
    """PyTorch's default for ``nn.Linear`` weights and biases: U(-b, b), b = 1 / sqrt(fan_in)
    (kaiming_uniform with a = sqrt(5)); the default init of deltaprop's Linear."""
    fan_in, _ = _fans(target, fans)
    bound = math.sqrt(_safe_div(1.0, fan_in, "torch_default"))
    return _uniform_fill(target, bound, generator, dtype)


# --- names ------------------------------------------------------------------------------------

_BY_NAME: dict[str, Callable] = {
    "zeros": zeros,
    "ones": ones,
    "constant": constant,
    "uniform": uniform,
    "normal": normal,
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "lecun_uniform": lecun_uniform,
    "lecun_normal": lecun_normal,
    "torch_default": torch_default,
}

ALIASES: dict[str, str] = {
    "xavier": "xavier_uniform",
    "glorot": "xavier_uniform",
    "glorot_uniform": "xavier_uniform",
    "glorot_normal": "xavier_normal",
    "he": "he_normal",
    "kaiming": "he_normal",
    "kaiming_normal": "he_normal",
    "kaiming_uniform": "he_uniform",
    "lecun": "lecun_normal",
    "default": "torch_default",
    "pytorch": "torch_default",
}

#: Every name :func:`get_initializer` accepts: the initializers, then the aliases.
#: (``constant`` needs a value, so it is called directly, not named.)
INITIALIZERS: tuple[str, ...] = (*_BY_NAME, *ALIASES)


def canonical_name(name: str, argument: str = "init") -> str:
    """The initializer an accepted name stands for: ``"he"`` -> ``"he_normal"``."""
    if isinstance(name, str) and normalize(name).startswith("constant:"):
        _constant_value(name)
        return "constant"
    return lookup(_BY_NAME, name, argument, aliases=ALIASES, listed=INITIALIZERS)


def _constant_value(name: str) -> float:
    """The value of ``"constant:0.5"`` (0.0 for plain ``"constant"``)."""
    _, _, text = name.partition(":")
    if not text.strip():
        return 0.0
    try:
        return float(text)
    except ValueError:
        raise ConfigError(
            f"init: expected 'constant:<number>', e.g. 'constant:0.5', got {name!r}"
        ) from None


def get_initializer(name: str) -> Callable:
    """The initializer function for a name or alias (case-insensitive); ConfigError lists the
    allowed names."""
    return _BY_NAME[canonical_name(name)]


_FAN_BASED = frozenset(
    ["xavier_uniform", "xavier_normal", "he_uniform", "he_normal", "lecun_uniform",
     "lecun_normal", "torch_default"]
)  # fmt: skip


def initialize(target, name: str, *, fans=None, generator=None, dtype=None):
    """Fill ``target`` with the named initializer at its default settings; ``fans`` (used by
    the fan-based ones) lets a layer give a bias its weight's fans, as PyTorch does."""
    key = canonical_name(name)
    fn = _BY_NAME[key]
    if key == "constant":
        return fn(target, _constant_value(name), generator=generator, dtype=dtype)
    if key in _FAN_BASED:
        return fn(target, fans=fans, generator=generator, dtype=dtype)
    return fn(target, generator=generator, dtype=dtype)
