"""The rules between a run's execution keys: ``compile``, ``lanes``, ``distributed`` and
``device`` (how and where it trains). The Trainer refuses the same combinations, but by its
arguments' names and only once the data is read; a recipe refuses them first, by the names
its caller shows (``--lanes`` on the command line)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ConfigError


def execution_rules(out: dict[str, Any], show: Callable[[str], str]) -> None:
    """ConfigError for lanes without compile or with distributed, and compile on a device."""
    if out["lanes"] > 1 and not out["compile"]:
        raise ConfigError(
            f"{show('lanes')}: splits the compiled step over threads; expected 1 without "
            f"{show('compile')}, got {out['lanes']}"
        )
    if out["compile"] and out["device"] not in (None, "cpu"):
        raise ConfigError(
            f"{show('compile')}: the compiled step runs on the CPU; expected it without "
            f"{show('device')} {out['device']}"
        )
    if out["distributed"] and out["lanes"] > 1:
        raise ConfigError(
            f"{show('lanes')}: a data-parallel rank's compiled step runs one lane; expected 1 "
            f"with {show('distributed')}, got {out['lanes']}"
        )
