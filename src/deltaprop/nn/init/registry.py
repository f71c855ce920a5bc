"""Initializers by name: ``"he"``, ``"Xavier"``, ``"constant:0.5"`` -> a function, resolved
once through :func:`deltaprop.names.lookup` (via :func:`deltaprop.checks.check_choice`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ...checks import check_choice
from ...errors import ConfigError
from . import rules

_BY_NAME: dict[str, Callable] = {
    fn.__name__: fn
    for fn in (
        rules.zeros, rules.ones, rules.constant, rules.uniform, rules.normal,
        rules.xavier_uniform, rules.xavier_normal, rules.he_uniform, rules.he_normal,
        rules.lecun_uniform, rules.lecun_normal, rules.torch_default,
    )
}  # fmt: skip

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

_FAN_BASED = frozenset(
    ["xavier_uniform", "xavier_normal", "he_uniform", "he_normal", "lecun_uniform",
     "lecun_normal", "torch_default"]
)  # fmt: skip


def _parse(name: Any, argument: str) -> tuple[str, float | None]:
    """(the canonical key, the value of ``"constant:<value>"`` or None), one lookup."""
    head, sep, text = name.partition(":") if isinstance(name, str) else (name, "", "")
    key = check_choice(head, _BY_NAME, argument, aliases=ALIASES, listed=INITIALIZERS)
    if key != "constant":
        if sep:  # "he:2": only constant takes a value; no key has a ":", so this raises
            check_choice(name, _BY_NAME, argument, aliases=ALIASES, listed=INITIALIZERS)
        return key, None
    if not text.strip():
        return key, 0.0
    try:
        return key, float(text)
    except ValueError:
        raise ConfigError(
            f"{argument}: expected 'constant:<number>', e.g. 'constant:0.5', got {name!r}"
        ) from None


def canonical_name(name: str, argument: str = "init") -> str:
    """The initializer an accepted name stands for: ``"he"`` -> ``"he_normal"``."""
    return _parse(name, argument)[0]


def get_initializer(name: str) -> Callable:
    """The initializer function for a name or alias (case-insensitive); ConfigError lists the
    allowed names."""
    return _BY_NAME[canonical_name(name)]


def resolve(name: str, argument: str = "init") -> Callable[..., Any]:
    """The named initializer at its default settings, as ``fill(target, *, fans=None,
    generator=None, dtype=None)``: a layer resolves its names once (a typo fails there, naming
    ``argument``) and fills each tensor with the result."""
    key, value = _parse(name, argument)
    fn = _BY_NAME[key]
    if key == "constant":
        return functools.partial(_without_fans, functools.partial(fn, value=value))
    if key in _FAN_BASED:
        return fn
    return functools.partial(_without_fans, fn)


def _without_fans(fn: Callable, target, *, fans=None, generator=None, dtype=None):
    # zeros, ones, constant, uniform, normal take no fans; a layer passes them to every name.
    return fn(target, generator=generator, dtype=dtype)


def initialize(target, name: str, *, fans=None, generator=None, dtype=None):
    """Fill ``target`` with the named initializer at its default settings; ``fans`` (used by
    the fan-based ones) lets a layer give a bias its weight's fans, as PyTorch does."""
    return resolve(name)(target, fans=fans, generator=generator, dtype=dtype)
