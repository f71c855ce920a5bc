"""Nested state trees <-> JSON plus named arrays, the way a safetensors file holds them.

:func:`encode` turns a tree of ``state_dict()`` values (dicts, lists, tuples, numbers, strings,
NumPy scalars and arrays: an optimizer's moments, a callback's best weights, a generator's
state, a history) into JSON-able data, moving every array into a dict of tensors named after
where it was found; :func:`decode` is its inverse. Values JSON cannot hold exactly are tagged:
``{"__array__": name}``, ``{"__float__": "inf"}``, ``{"__tuple__": [...]}``,
``{"__scalar__": dtype, "value": v}``, ``{"__items__": [[key, value], ...]}`` (a dict whose keys
are not all strings). :func:`to_json` writes the JSON compactly and :func:`tree_diff` names the
first place where two such trees differ. The file around them: :mod:`.tensorfile`.

Every JSON text read from a file (an architecture, user metadata, a training state, the
safetensors header itself) goes through :func:`parse_json`, which bounds its size and nesting
depth before ``json.loads`` sees it: a hostile or corrupt file gets a ModelFileError, never a
RecursionError or a MemoryError. Writers check the same bounds (:func:`json_problem`), so that
nothing is written that cannot be read back.

>>> tensors = {}
>>> encode({"step": 3, "m": np.zeros(2)}, "opt", tensors)
{'step': 3, 'm': {'__array__': 'opt/m'}}
>>> decode({"t": {"__tuple__": [0.9, {"__float__": "inf"}]}}, tensors)
{'t': (0.9, inf)}
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np

from .. import backend
from ..errors import ConfigError, ModelFileError

_TAGS = ("__array__", "__float__", "__tuple__", "__scalar__", "__items__")


# --- values <-> JSON + arrays -----------------------------------------------------------------


def _is_array(value: Any) -> bool:
    return (
        hasattr(value, "shape")
        and hasattr(value, "dtype")
        and hasattr(value, "__array__")
        and not isinstance(value, np.generic)
    ) or isinstance(value, np.ndarray)


def encode(value: Any, where: str, tensors: dict[str, np.ndarray]) -> Any:
    """``value`` as JSON-able data; arrays go into ``tensors`` (named after ``where``)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, float):  # np.float64 too: exact as a JSON number
        return float(value) if math.isfinite(value) else {"__float__": repr(float(value))}
    if isinstance(value, int):
        return int(value)
    if isinstance(value, np.generic):
        return {"__scalar__": value.dtype.name, "value": encode(value.item(), where, tensors)}
    if _is_array(value):
        name = where
        n = 1
        while name in tensors:
            n += 1
            name = f"{where}#{n}"
        array = np.asarray(backend.to_numpy(value))
        tensors[name] = np.ascontiguousarray(array).reshape(array.shape)
        return {"__array__": name}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, f"{where}/{i}", tensors) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [encode(v, f"{where}/{i}", tensors) for i, v in enumerate(value)]
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: encode(v, f"{where}/{k}", tensors) for k, v in value.items()}
        return {
            "__items__": [
                [encode(k, f"{where}/{i}k", tensors), encode(v, f"{where}/{i}", tensors)]
                for i, (k, v) in enumerate(value.items())
            ]
        }
    raise ConfigError(
        f"cannot save {where}: a {type(value).__name__} is neither an array nor a "
        "JSON value (numbers, strings, lists, dicts)"
    )


def decode(value: Any, tensors: dict[str, np.ndarray]) -> Any:
    """The inverse of :func:`encode`; ValueError for data it never writes."""
    if isinstance(value, list):
        return [decode(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    tags = [k for k in value if k in _TAGS]
    if not tags:
        return {k: decode(v, tensors) for k, v in value.items()}
    tag = tags[0]
    if tag == "__array__":
        name = value[tag]
        if name not in tensors:
            raise ValueError(f"the array {name!r} is not among the tensors")
        return tensors[name]
    if tag == "__float__":
        if value[tag] not in ("inf", "-inf", "nan"):
            raise ValueError(f"bad float {value[tag]!r}")
        return float(value[tag])
    if tag == "__tuple__":
        return tuple(decode(v, tensors) for v in value[tag])
    if tag == "__scalar__":
        return np.dtype(value[tag]).type(decode(value["value"], tensors))
    return {decode(k, tensors): decode(v, tensors) for k, v in value[tag]}


def to_json(tree: Any) -> str:
    """``tree`` (already encoded) as compact JSON; ValueError for a NaN or infinity left in it."""
    return json.dumps(tree, allow_nan=False, separators=(",", ":"))


# --- reading JSON from a file, bounded --------------------------------------------------------

# Real files nest about 10 levels (a training state: 9, an architecture: 2 per Sequential); 64
# is far from both and from Python's recursion limit (1000), which json.loads would hit.
MAX_DEPTH = 64
# The largest text a deltaprop file holds: a long run's history or a standardizer of 100,000
# features is a few MB; 64 MiB bounds what parsing a hostile text can allocate.
MAX_CHARS = 64 * 2**20

# A JSON string literal, or an unterminated one up to the end: a match from every quote, so
# the scan stays linear (a pattern that can fail would retry from each quote: quadratic).
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*\\?(?:"|\Z)', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_CHUNK = 1 << 20


def json_depth(text: str, stop: int | None = None) -> int:
    """How deeply arrays and objects nest in ``text`` (0 for a scalar), by a linear scan that
    skips string literals; for a text that is not JSON, an upper bound. Stops counting once
    ``stop`` is exceeded (the answer is then some value > ``stop``)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text)).encode("ascii")
    depth = deepest = 0
    for i in range(0, len(brackets), _CHUNK):  # chunks: memory stays small for any text
        b = np.frombuffer(brackets, np.uint8, count=min(_CHUNK, len(brackets) - i), offset=i)
        levels = depth + np.cumsum(np.where((b == ord("[")) | (b == ord("{")), 1, -1))
        deepest = max(deepest, int(levels.max()))
        depth = int(levels[-1])
        if stop is not None and deepest > stop:
            break
    return deepest


def json_problem(text: str, max_depth: int = MAX_DEPTH, max_chars: int = MAX_CHARS) -> str | None:
    """What makes ``text`` too big to parse safely, in words (None when it is within bounds):
    more than ``max_chars`` characters or nested more than ``max_depth`` levels."""
    if len(text) > max_chars:
        return f"is {len(text)} characters long, more than the {max_chars} allowed"
    if json_depth(text, stop=max_depth) > max_depth:
        return f"is nested more than {max_depth} levels deep"
    return None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(
    text: str,
    what: str,
    max_depth: int = MAX_DEPTH,
    max_chars: int = MAX_CHARS,
    constants: bool = True,
) -> Any:
    """``json.loads(text)`` once :func:`json_problem` found it within bounds; with
    ``constants=False`` the non-standard ``NaN``/``Infinity`` tokens are refused too (for
    texts whose writer tags them, as :func:`encode` does).

    Raises ModelFileError ``"<what> is not valid JSON (...)"`` (or ``"<what> is nested more
    than ... levels deep"``, ``"... characters long ..."``); the caller adds the path.
    """
    if not isinstance(text, str):
        raise ModelFileError(f"{what} is a {type(text).__name__}, not JSON text")
    problem = json_problem(text, max_depth, max_chars)
    if problem:
        raise ModelFileError(f"{what} {problem}")
    try:
        return json.loads(text) if constants else json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as e:  # RecursionError: a deep stack at the call
        raise ModelFileError(f"{what} is not valid JSON ({e})") from e


# --- comparing --------------------------------------------------------------------------------


def tree_diff(a: Any, b: Any, where: str) -> str | None:
    """The first place where two JSON trees differ, in words; None when they are equal."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if key not in a or key not in b:
                return f"{where}.{key}: {'absent' if key not in a else 'present'} in the file"
            found = tree_diff(a[key], b[key], f"{where}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{where}: {len(a)} entries in the file, {len(b)} here"
        for i, (x, y) in enumerate(zip(a, b)):
            found = tree_diff(x, y, f"{where}[{i}]")
            if found:
                return found
        return None
    if a != b:
        return f"{where}: {a!r} in the file, {b!r} here"
    return None
