"""A recipe as a TOML file that ``deltaprop train --config`` reads back into the same Recipe
(``Recipe.from_toml(path) == recipe``): a ``[train]`` table of every key that has a value
(TOML has no None: keys left at None are left out and read back as None), outputs left out,
``architecture`` as an array of inline tables.

Python's standard library reads TOML but does not write it; the values of a recipe are few
kinds (strings, integers, floats, booleans, and the architecture's tables of them), written
here by hand.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..errors import ConfigError
from ..recipe import Recipe

#: Keys never written: the run's own outputs (a search's best model is written apart).
LEFT_OUT = ("save", "metrics_out", "plot", "checkpoint", "resume")


def value_text(value: Any) -> str:
    """One TOML value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        text = repr(value)  # the shortest text that reads back as the same float
        return text if any(c in text for c in ".en") else text + ".0"
    if isinstance(value, str):
        # JSON's escapes (\", \\, \n, \uXXXX) are TOML basic-string escapes too
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{_key(k)} = {value_text(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    raise ConfigError(f"toml: cannot write {value!r} ({type(value).__name__}) as a TOML value")


def _key(name: str) -> str:
    bare = name.replace("_", "").replace("-", "").isalnum() and name.isascii()
    return name if bare else json.dumps(name)


def recipe_toml(recipe: Recipe, header: str = "") -> str:
    """The recipe as a ``[train]`` table (with ``header`` lines as comments above it)."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    lines.append("[train]")
    for key, value in recipe.to_dict().items():
        if value is None or key in LEFT_OUT:
            continue
        lines.append(f"{key} = {value_text(value)}")
    return "\n".join(lines) + "\n"


def best_toml(recipe: Recipe, number: int, study: str, metric: str, value: float,
              params: dict[str, Any]) -> str:  # fmt: skip
    """best.toml: the best trial's recipe, with what it scored as a comment."""
    shown = ", ".join(f"{k} = {value_text(v)}" for k, v in params.items())
    header = (
        f"The best trial of study {study!r}: trial {number}, val_{metric} {value:.6g}\n"
        f"searched: {shown or '(nothing)'}\n"
        "Reproduce its validation score: deltaprop train --config best.toml"
    )
    return recipe_toml(recipe, header)
