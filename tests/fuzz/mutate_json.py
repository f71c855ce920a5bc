"""Edits of a JSON tree (an architecture, the user metadata, a training state), the way a
hand editor or a flipped bit in the right place would change it.

:func:`edit` picks one node of the tree at random and changes it (a number, a string, a key,
its type, a list's items) or buries it under deep nesting; :func:`dumps` writes the result,
splicing the deep nesting in as text (``json.dumps`` itself would recurse into it).
Everything is drawn from the ``numpy.random.Generator`` given, so a seed reproduces an edit.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np

# The layer class names a "class" string may be renamed to (a different, valid layer).
LAYER_NAMES = ("Linear", "ReLU", "Tanh", "Sigmoid", "Dropout", "BatchNorm1d", "Identity", "GELU")

_DEEP = "\x00fuzz-deep\x00"  # stands for a deeply nested value until dumps() splices it in


class Deep:
    """A value buried under ``depth`` levels of lists (or dicts) when the tree is written."""

    def __init__(self, value: Any, depth: int, kind: str) -> None:
        self.value, self.depth, self.kind = value, depth, kind

    def text(self) -> str:
        inner = dumps(self.value)
        if self.kind == "list":
            return "[" * self.depth + inner + "]" * self.depth
        return '{"a":' * self.depth + inner + "}" * self.depth


def dumps(tree: Any) -> str:
    """``tree`` as JSON text (NaN/Infinity allowed: Python's json reads them), deep nesting
    spliced in."""
    deep: list[Deep] = []

    def walk(node: Any) -> Any:
        if isinstance(node, Deep):
            deep.append(node)
            return _DEEP
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    text = json.dumps(walk(tree))
    for d in deep:  # in document order, one placeholder each
        text = text.replace(json.dumps(_DEEP), d.text(), 1)
    return text


def paths(tree: Any, prefix: tuple = ()) -> list[tuple]:
    """Every node's path (keys and indexes from the root), the root excluded."""
    out: list[tuple] = []
    items = (
        tree.items()
        if isinstance(tree, dict)
        else enumerate(tree)
        if isinstance(tree, list)
        else ()
    )
    for key, value in items:
        p = prefix + (key,)
        out.append(p)
        out.extend(paths(value, p))
    return out


def get(tree: Any, path: tuple) -> Any:
    for key in path:
        tree = tree[key]
    return tree


def show(path: tuple) -> str:
    return "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path) or "(root)"


def _number(value: Any, rng: np.random.Generator, finite_only: bool) -> Any:
    if isinstance(value, int):
        choices = [value + 1, value - 1, -value, 0, 2**31, 2**63, 10**30, -1, float(value)]
    else:
        choices = [value * 10, value / 10, value + 1, -value, 0.0, 1.0, 0.1, 1e300, -1e300, 1e-300]
        choices.append(int(value) if abs(value) < 1e18 else 0)
    if not finite_only:
        choices += [float("nan"), float("inf"), float("-inf")]
    choices += [True, None, str(value)]
    return choices[rng.integers(len(choices))]


def _string(value: str, rng: np.random.Generator) -> Any:
    kind = rng.integers(7)
    if kind == 0 and value:  # one character changed by one bit, as a flipped bit does
        i = int(rng.integers(len(value)))
        return value[:i] + chr(ord(value[i]) ^ (1 << int(rng.integers(7)))) + value[i + 1 :]
    if kind == 1:
        return ""
    if kind == 2:
        return "x" * int(rng.choice([1000, 100_000]))
    if kind == 3:
        return LAYER_NAMES[rng.integers(len(LAYER_NAMES))]
    if kind == 4:
        return ["1e-05", "nan", "-1", "0", "inf", "1e39"][rng.integers(6)]
    if kind == 5:
        return value + ["\u2028", "\x00", "é", " "][rng.integers(4)]
    return value.upper() if value != value.upper() else value.lower() + "_"


def _new_key(key: str, rng: np.random.Generator) -> str:
    kind = rng.integers(3)
    if kind == 0 and key:
        i = int(rng.integers(len(key)))
        return key[:i] + chr(ord(key[i]) ^ (1 << int(rng.integers(6)))) + key[i + 1 :]
    if kind == 1:
        return key.upper() if key != key.upper() else key + "_"
    return "__" + key if not key.startswith("__") else key[2:]


def edit(tree: Any, rng: np.random.Generator, deep: bool = True, finite_only: bool = False):
    """A changed copy of ``tree`` and a description: ``(new_tree, "what changed")``.

    ``deep=False`` keeps the nesting within what ``json.dumps`` can write (depth <= 200);
    ``finite_only`` never puts NaN or infinity in (for trees that must stay strict JSON).
    """
    tree = copy.deepcopy(tree)
    nodes = paths(tree)
    if not nodes:
        return {"fuzz": 1}, "replaced an empty tree"
    path = nodes[rng.integers(len(nodes))]
    parent, key = get(tree, path[:-1]), path[-1]
    value = parent[key]
    where = show(path)
    op = ["value", "value", "value", "key", "type", "list", "nest"][rng.integers(7)]
    if op == "key" and isinstance(parent, dict):
        kind = rng.integers(3)
        if kind == 0:
            del parent[key]
            return tree, f"deleted the key {where}"
        if kind == 1:
            new = _new_key(str(key), rng)
            items = [(new if k == key else k, v) for k, v in parent.items()]
            parent.clear()
            parent.update(items)
            return tree, f"renamed the key {where} to {new!r}"
        parent["fuzz_extra"] = 1
        return tree, f"added a key next to {where}"
    if op == "list" and isinstance(parent, list):
        kind = rng.integers(4)
        if kind == 0:
            del parent[key]
            return tree, f"dropped the item {where}"
        if kind == 1:
            parent.insert(key, copy.deepcopy(value))
            return tree, f"duplicated the item {where}"
        if kind == 2 and len(parent) > 1:
            other = int(rng.integers(len(parent)))
            parent[key], parent[other] = parent[other], parent[key]
            return tree, f"swapped the items {where} and [{other}]"
        parent.reverse()
        return tree, f"reversed the list holding {where}"
    if op == "nest":
        depth = int(rng.choice([20, 200, 1000, 5000, 100_000] if deep else [20, 100, 200]))
        kind = "list" if rng.integers(2) else "dict"
        if deep and depth > 200:
            parent[key] = Deep(value, depth, kind)
        else:
            nested = value
            for _ in range(depth):
                nested = [nested] if kind == "list" else {"a": nested}
            parent[key] = nested
        return tree, f"nested {where} {depth} levels deep ({kind}s)"
    if op == "type":
        choices = [[], {}, None, 0, "", [value], {"value": value}, True]
        parent[key] = choices[rng.integers(len(choices))]
        return tree, f"changed the type of {where} to {type(parent[key]).__name__}"
    # op == "value", or a key/list op that did not fit its parent
    if isinstance(value, bool) or value is None:
        parent[key] = [not value if isinstance(value, bool) else 0, "x", 1.5][rng.integers(3)]
    elif isinstance(value, (int, float)):
        parent[key] = _number(value, rng, finite_only)
    elif isinstance(value, str):
        parent[key] = _string(value, rng)
    else:  # a list or dict: change its type instead
        choices = [None, 0, "", [], {}]
        parent[key] = choices[rng.integers(len(choices))]
    return tree, f"changed {where} from {_short(value)} to {_short(parent[key])}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
