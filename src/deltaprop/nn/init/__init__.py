"""Weight initializers, with PyTorch's formulas and deltaprop's generator.

The math is in :mod:`.rules` (on the fans and filling of :mod:`.fans`); names resolve in
:mod:`.registry`. Everything public is importable from here, as ``nn.init.he_normal``.

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

from .fans import calculate_gain, compute_fans
from .registry import (
    ALIASES,
    INITIALIZERS,
    canonical_name,
    get_initializer,
    initialize,
    resolve,
)
from .rules import (
    constant,
    he_normal,
    he_uniform,
    lecun_normal,
    lecun_uniform,
    normal,
    ones,
    torch_default,
    uniform,
    xavier_normal,
    xavier_uniform,
    zeros,
)

__all__ = [
    "ALIASES", "INITIALIZERS", "calculate_gain", "canonical_name", "compute_fans", "constant",
    "get_initializer", "he_normal", "he_uniform", "initialize", "lecun_normal", "lecun_uniform",
    "normal", "ones", "resolve", "torch_default", "uniform", "xavier_normal", "xavier_uniform",
    "zeros",
]  # fmt: skip
