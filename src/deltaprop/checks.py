"""Argument checks: the one place that turns a user's value into a checked one, or fails with a
ConfigError that names the argument, what was expected and what came.

Every layer uses these (like :mod:`deltaprop.errors` and :mod:`deltaprop.names`), so that one
kind of value is checked one way and worded one way everywhere. ``name`` is the argument as the
caller's user knows it: ``"lr"`` from Python, ``"--lr"`` from the command line.

>>> check_int(3, "epochs")
3
>>> check_real(0.0, "lr", strict=True)
Traceback (most recent call last):
...
deltaprop.errors.ConfigError: lr: expected a finite number > 0, got 0.0
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .errors import ConfigError
from .names import lookup


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_int(value: Any, name: str, minimum: int | None = 1, maximum: int | None = None) -> int:
    """An integer in ``[minimum, maximum]`` (None: unbounded); bools are not integers here."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if (
        not ok
        or (minimum is not None and value < minimum)
        or (maximum is not None and value > maximum)
    ):
        if minimum is not None and maximum is not None:
            bound = f"an integer in [{minimum}, {maximum}]"
        elif minimum is not None:
            bound = f"an integer >= {minimum}"
        elif maximum is not None:
            bound = f"an integer <= {maximum}"
        else:
            bound = "an integer"
        raise ConfigError(f"{name}: expected {bound}, got {value!r}")
    return int(value)


def check_bool(value: Any, name: str) -> bool:
    """True or False (not 0/1, not a string); NumPy's bools (from a comparison) count too."""
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def check_real(
    value: Any,
    name: str,
    minimum: float | None = 0.0,
    strict: bool = False,
    maximum: float | None = None,
    allow_inf: bool = False,
) -> float:
    """A real number >= ``minimum`` (> with ``strict``; None: no lower bound) and <= ``maximum``,
    as a float. NaN is never allowed; infinity only with ``allow_inf``."""
    ok = _is_real(value) and not math.isnan(value) and (allow_inf or math.isfinite(value))
    low_ok = minimum is None or (ok and (value > minimum if strict else value >= minimum))
    high_ok = maximum is None or (ok and value <= maximum)
    if not (ok and low_ok and high_ok):
        what = "a number" if allow_inf else "a finite number"
        bounds = []
        if minimum is not None:
            bounds.append(f"{'>' if strict else '>='} {minimum:g}")
        if maximum is not None:
            bounds.append(f"<= {maximum:g}")
        bound = f"{what} {' and '.join(bounds)}" if bounds else what
        raise ConfigError(f"{name}: expected {bound}, got {value!r}")
    return float(value)


def check_fraction(
    value: Any, name: str, closed_low: bool = False, closed_high: bool = False
) -> float:
    """A number between 0 and 1: open interval by default; ``closed_low`` allows 0,
    ``closed_high`` allows 1 (a dropout probability is ``[0, 1)``)."""
    ok = _is_real(value) and not math.isnan(value)
    ok = ok and (value >= 0 if closed_low else value > 0)
    ok = ok and (value <= 1 if closed_high else value < 1)
    if not ok:
        interval = f"{'[' if closed_low else '('}0, 1{']' if closed_high else ')'}"
        what = "a fraction" if not (closed_low or closed_high) else "a number"
        raise ConfigError(f"{name}: expected {what} in {interval}, got {value!r}")
    return float(value)


def check_choice(
    value: Any,
    table: Mapping[str, Any] | Iterable[str],
    name: str,
    aliases: Mapping[str, str] | None = None,
    listed: Iterable[str] | None = None,
) -> str:
    """The canonical key of ``table`` (a mapping or a collection of names) that ``value`` names,
    through :func:`deltaprop.names.lookup` (case, spaces and ``-``/``_`` do not matter)."""
    if not isinstance(table, Mapping):
        table = dict.fromkeys(table)
    return lookup(table, value, name, aliases=aliases, listed=listed)


def check_type(value: Any, kind: type | tuple[type, ...], name: str, expected: str) -> Any:
    """``value`` if it is a ``kind``; else ConfigError naming ``name`` and ``expected``."""
    if not isinstance(value, kind):
        raise ConfigError(f"{name}: expected {expected}, got {type(value).__name__}")
    return value


def check_optional(check, value: Any, name: str, **options: Any) -> Any:
    """None stays None; anything else goes through ``check(value, name, **options)``."""
    return None if value is None else check(value, name, **options)


def check_pair(value: Any, name: str, minimum: int = 1) -> tuple[int, int]:
    """An integer >= ``minimum`` or a pair of them (height, width), as a pair: ``3`` -> (3, 3).

    For the kernel size, stride, padding and dilation of image layers."""
    if type(value) is tuple and len(value) == 2 and all(type(v) is int for v in value):
        if value[0] >= minimum and value[1] >= minimum:  # the checked pair a layer passes on
            return value
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ConfigError(
                f"{name}: expected an integer >= {minimum} or a pair of them, got {value!r}"
            )
        return (
            check_int(value[0], f"{name}[0]", minimum=minimum),
            check_int(value[1], f"{name}[1]", minimum=minimum),
        )
    n = check_int(value, name, minimum=minimum)
    return (n, n)


def require(module: str, extra: str, name: str) -> Any:
    """Import the optional dependency ``module`` (lazily: the core install stays light), or
    fail with a ConfigError naming ``name`` (what needs it) and the extra that installs it.

    >>> require("numpy", "core", "x").__name__
    'numpy'
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"{name}: needs {module}, which is not installed: pip install deltaprop[{extra}]"
        ) from None
