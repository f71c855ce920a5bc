"""The checks a training state's schema is made of (:mod:`.state_schema`): small functions
``check(value, where, tensors) -> value`` that accept a value or raise :class:`Invalid` naming
the field (``"state.fit.batch_size: expected an integer >= 1, got '16'"``), and combinators that
build a check of a whole tree from them (:func:`record`, :func:`list_of`, :func:`encoded`...).
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .. import io

_TAGS = {  # the codec's tagged values: tag -> the keys of that dict
    "__array__": {"__array__"},
    "__float__": {"__float__"},
    "__tuple__": {"__tuple__"},
    "__scalar__": {"__scalar__", "value"},
    "__items__": {"__items__"},
}
_FLOATS = ("inf", "-inf", "nan")


class Invalid(Exception):
    """A field that is not what the writer writes: ``"<field>: expected ..., got ..."``."""


# A check: (value, field path, tensors) -> the value (decoded, for an encoded part); raises
# Invalid naming the field.
Check = Callable[[Any, str, Mapping[str, np.ndarray]], Any]


def shown(value: Any) -> str:
    """``repr(value)``, cut to 80 characters for a message."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def fail(where: str, expected: str, value: Any) -> Invalid:
    """The error ``"<where>: expected <expected>, got <value>"``, to raise."""
    return Invalid(f"{where}: expected {expected}, got {shown(value)}")


# --- checks and combinators ----------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def integer(low: int | None = None, high: int | None = None) -> Check:
    """An integer in ``[low, high]`` (None: unbounded); a bool is not one."""
    if low is not None and high is not None:
        expected = f"an integer in [{low}, {high}]"
    elif low is not None:
        expected = f"an integer >= {low}"
    else:
        expected = "an integer"

    def check(value, where, tensors):
        ok = _is_int(value)
        if not ok or (low is not None and value < low) or (high is not None and value > high):
            raise fail(where, expected, value)
        return value

    return check


def real(low: float | None = None) -> Check:
    """A number (decoded: infinities allowed, not NaN), >= ``low`` when given."""
    expected = "a number" if low is None else f"a number >= {low:g}"

    def check(value, where, tensors):
        if not _is_real(value) or math.isnan(value) or (low is not None and value < low):
            raise fail(where, expected, value)
        return value

    return check


def of_type(kind: type, expected: str) -> Check:
    def check(value, where, tensors):
        if not isinstance(value, kind):
            raise fail(where, expected, value)
        return value

    return check


def array(dtype: str, shape: tuple[int, ...]) -> Check:
    """A decoded array of this dtype and shape."""
    expected = f"a {dtype} array of shape {shape}"

    def check(value, where, tensors):
        if not isinstance(value, np.ndarray):
            raise fail(where, expected, value)
        if value.dtype != dtype or value.shape != shape:
            raise Invalid(f"{where}: expected {expected}, got {value.dtype} {value.shape}")
        return value

    return check


boolean = of_type(bool, "true or false")
string = of_type(str, "a string")


def anything(value: Any, where: str, tensors: Mapping[str, np.ndarray]) -> Any:
    return value


def literal(*values: str) -> Check:
    def check(value, where, tensors):
        if not isinstance(value, str) or value not in values:
            raise fail(where, " or ".join(map(repr, values)), value)
        return value

    return check


def nullable(inner: Check) -> Check:
    """None, or what ``inner`` accepts."""
    return lambda value, where, tensors: None if value is None else inner(value, where, tensors)


def record(fields: dict[str, Check], optional: dict[str, Check] | None = None) -> Check:
    """A dict with exactly the keys of ``fields`` (and any of ``optional``), each checked."""
    optional = optional or {}
    table = {**fields, **optional}

    def check(value, where, tensors):
        if not isinstance(value, dict):
            raise fail(where, f"a dict with the keys {list(fields)}", value)
        missing = [k for k in fields if k not in value]
        if missing:
            raise Invalid(f"{where}: the key(s) {missing} are missing")
        unknown = [k for k in value if k not in table]
        if unknown:
            raise Invalid(f"{where}: unknown key(s) {unknown}; expected {list(table)}")
        return {k: table[k](v, f"{where}.{k}", tensors) for k, v in value.items()}

    return check


def list_of(item: Check) -> Check:
    def check(value, where, tensors):
        if not isinstance(value, list):
            raise fail(where, "a list", value)
        return [item(v, f"{where}[{i}]", tensors) for i, v in enumerate(value)]

    return check


def dict_of(item: Check) -> Check:
    """A dict of string keys, each value checked."""

    def check(value, where, tensors):
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise fail(where, "a dict with string keys", value)
        return {k: item(v, f"{where}.{k}", tensors) for k, v in value.items()}

    return check


def encoded(inner: Check) -> Check:
    """A value encoded by the codec: its tags checked, decoded (arrays from the tensors), and the
    decoded value checked by ``inner``; returns the decoded value."""

    def check(value, where, tensors):
        _check_tags(value, where)
        try:
            decoded = io.decode(value, tensors)
        except (ValueError, TypeError, KeyError) as e:
            raise Invalid(f"{where}: {e}") from None
        return inner(decoded, where, tensors)

    return check


def _check_tags(value: Any, where: str) -> None:
    """Invalid unless every tagged dict in ``value`` is one the codec writes: one tag, its own
    keys, a value of the right kind (``decode`` itself reads the first tag and ignores the rest).
    """
    stack = [(value, where)]
    while stack:
        node, at = stack.pop()
        if isinstance(node, list):
            stack.extend((v, f"{at}[{i}]") for i, v in enumerate(node))
            continue
        if not isinstance(node, dict):
            continue
        tags = [k for k in node if k.startswith("__")]
        if not tags:
            stack.extend((v, f"{at}.{k}") for k, v in node.items())
            continue
        tag = tags[0]
        if tag not in _TAGS or set(node) != _TAGS[tag]:
            raise Invalid(f"{at}: expected one of the codec's tagged values, got {shown(node)}")
        inner = node[tag]
        if tag == "__array__" and not isinstance(inner, str):
            raise fail(at, "an array name", inner)
        if tag == "__float__" and inner not in _FLOATS:
            raise fail(at, f"one of {list(_FLOATS)}", inner)
        if tag == "__scalar__":
            if _number_kind(inner) not in tuple("biuf"):
                raise fail(f"{at}.__scalar__", "the name of a NumPy number type", inner)
            number = node["value"]
            if isinstance(number, dict) and list(number) == ["__float__"]:
                stack.append((number, f"{at}.value"))  # a NaN or an infinity
            elif not isinstance(number, (bool, int, float)):
                raise fail(f"{at}.value", "a number", number)
        if tag in ("__tuple__", "__items__") and not isinstance(inner, list):
            raise fail(f"{at}.{tag}", "a list", inner)
        if tag == "__items__":
            if not all(isinstance(p, list) and len(p) == 2 for p in inner):
                raise fail(f"{at}.__items__", "a list of [key, value] pairs", inner)
            # decode makes a dict of the pairs, where 1, 1.0 and true are one key: the later
            # pair would silently replace the earlier
            keys = [json.dumps(k) if isinstance(k, (dict, list)) else k for k, _ in inner]
            if len(set(keys)) != len(keys):
                raise fail(f"{at}.__items__", "distinct keys", [k for k, _ in inner])
        if tag in ("__tuple__", "__items__"):
            stack.extend((v, f"{at}[{i}]") for i, v in enumerate(inner))


def _number_kind(name: Any) -> str | None:
    """The NumPy dtype kind (``"f"``, ``"i"``...) that ``name`` names; None for no dtype."""
    try:
        return np.dtype(name).kind if isinstance(name, str) else None
    except (TypeError, ValueError, OverflowError):
        return None


def same(a: Any, b: Any) -> bool:
    """Equal values of the same types (True is not 1, 1.0 is not 1); NaN equals NaN; arrays by
    dtype, shape and content."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
        )
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def depth(tree: Any) -> int:
    """How deeply ``tree`` nests (a scalar is 0, ``[1]`` is 1), walked without recursion."""
    deepest = 0
    stack = [(tree, 0)]
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        if isinstance(node, dict):
            stack.extend((v, d + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, d + 1) for v in node)
    return deepest
