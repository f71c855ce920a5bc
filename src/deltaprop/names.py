"""Strings at the edge: resolve a user's name for an option (``"ReLU"``, ``"leaky-relu"``) to
the key of a table, once, with one error message format for every kind of option."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .errors import ConfigError


def normalize(name: str) -> str:
    """``" Leaky-ReLU "`` -> ``"leaky_relu"``: case, surrounding spaces and "-" do not matter."""
    return name.strip().lower().replace("-", "_")


def lookup(
    table: Mapping[str, Any],
    name: Any,
    argument: str,
    aliases: Mapping[str, str] | None = None,
    listed: Iterable[str] | None = None,
) -> str:
    """The key of ``table`` that ``name`` stands for (after :func:`normalize` and ``aliases``).

    Raises:
        ConfigError: ``name`` is not a string, or names nothing in the table; the message names
            ``argument`` and lists the allowed names (``listed``, or the table's keys).
    """
    if not isinstance(name, str):
        raise ConfigError(f"{argument}: expected a name, got {type(name).__name__}")
    key = normalize(name)
    if aliases:
        key = aliases.get(key, key)
    if key not in table:
        allowed = tuple(listed) if listed is not None else tuple(table)
        raise ConfigError(f"{argument}: unknown name {name!r}; expected one of {allowed}")
    return key
