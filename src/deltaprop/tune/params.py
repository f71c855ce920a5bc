"""The kinds of search parameter: :class:`Float` (:class:`LogFloat` on a log scale),
:class:`Int` and :class:`Choice`. Each checks itself under the name it is given in a
:class:`~deltaprop.tune.Space` (a ConfigError naming the parameter), asks an Optuna trial
for a value (``suggest``) and lists its values for a grid (``grid``); a continuous range has
no grid.

>>> LogFloat(1e-4, 1e-1).describe()
{'low': 0.0001, 'high': 0.1, 'log': True}
>>> Int(1, 7, step=3).grid("layers")
[1, 4, 7]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

#: The most values a grid over one stepped range may have (beyond it: list the values).
MAX_GRID = 10_000


def _real(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{what}: expected a finite number, got {value!r}")
    return float(value)


def _integer(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{what}: expected an integer, got {value!r}")
    return value


@dataclass(frozen=True)
class Float:
    """A real value in ``[low, high]``: uniform, on a log scale (``log=True``: each decade
    as likely as the next; ``low`` must be above 0), or on a ``step`` grid
    ``low, low + step, ...`` (the only Float a grid search can enumerate)."""

    low: float
    high: float
    step: float | None = None
    log: bool = False

    def check(self, name: str) -> None:
        """ConfigError naming ``name`` for a bad range."""
        low, high = _real(self.low, f"{name}: low"), _real(self.high, f"{name}: high")
        if low >= high:
            raise ConfigError(f"{name}: expected low < high, got low {low:g} >= high {high:g}")
        if not isinstance(self.log, bool):
            raise ConfigError(f"{name}: log: expected true or false, got {self.log!r}")
        if self.log and low <= 0:
            raise ConfigError(
                f"{name}: a log range must stay above 0, got low {low:g} (use a linear range, "
                "or a low such as 1e-6)"
            )
        if self.step is not None:
            step = _real(self.step, f"{name}: step")
            if step <= 0 or self.log:
                why = "with log" if self.log else f"got {step:g}"
                raise ConfigError(f"{name}: step: expected a positive step without log, {why}")

    def suggest(self, trial: Any, name: str) -> float:
        return float(trial.suggest_float(name, self.low, self.high, step=self.step, log=self.log))

    def grid(self, name: str) -> list[float]:
        """The stepped values; a continuous range is a ConfigError (a grid needs values)."""
        if self.step is None:
            kind = "log " if self.log else ""
            raise ConfigError(
                f"{name}: a grid search needs listed values or a stepped range, got the "
                f"continuous {kind}range [{self.low:g}, {self.high:g}] (give a list of values, "
                "or a step)"
            )
        n = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        _check_size(n, name)
        # rounded to the step's decimals: 0.1 + 2 * 0.1 is 0.30000000000000004 otherwise
        digits = max(0, -math.floor(math.log10(self.step)) + 6)
        return [round(self.low + i * self.step, digits) for i in range(n)]

    def endpoints(self) -> list[float]:
        return [float(self.low), float(self.high)]

    def describe(self) -> dict[str, Any]:
        """The TOML/JSON form: ``{"low": ..., "high": ..., "log": true}``."""
        out: dict[str, Any] = {"low": float(self.low), "high": float(self.high)}
        if self.step is not None:
            out["step"] = float(self.step)
        if self.log:
            out["log"] = True
        return out


@dataclass(frozen=True)
class LogFloat(Float):
    """A real value in ``[low, high]`` on a log scale (``0 < low < high``): learning rates,
    penalties."""

    log: bool = field(default=True, init=False)


@dataclass(frozen=True)
class Int:
    """An integer in ``[low, high]`` (both included), every ``step``-th, or on a log scale
    (``log=True``, ``low >= 1``; step 1): layer widths, batch sizes, patience."""

    low: int
    high: int
    step: int = 1
    log: bool = False

    def check(self, name: str) -> None:
        low, high = _integer(self.low, f"{name}: low"), _integer(self.high, f"{name}: high")
        step = _integer(self.step, f"{name}: step")
        if low >= high:
            raise ConfigError(f"{name}: expected low < high, got low {low} >= high {high}")
        if step < 1:
            raise ConfigError(f"{name}: step: expected a positive integer, got {step}")
        if not isinstance(self.log, bool):
            raise ConfigError(f"{name}: log: expected true or false, got {self.log!r}")
        if self.log and low < 1:
            raise ConfigError(f"{name}: a log range must stay above 0, got low {low}")
        if self.log and step != 1:
            raise ConfigError(f"{name}: step: a log range takes step 1, got {step}")

    def suggest(self, trial: Any, name: str) -> int:
        return int(trial.suggest_int(name, self.low, self.high, step=self.step, log=self.log))

    def grid(self, name: str) -> list[int]:
        values = list(range(self.low, self.high + 1, self.step))
        _check_size(len(values), name)
        return values

    def endpoints(self) -> list[int]:
        return [self.low, self.high]

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.step != 1:
            out["step"] = self.step
        if self.log:
            out["log"] = True
        return out


@dataclass(frozen=True)
class Choice:
    """One of ``values`` (strings, numbers or booleans; at least one, no repeats):
    ``Choice(["relu", "tanh"])``, ``Choice(["64", "128,64"])`` for hidden widths."""

    values: tuple[Any, ...]

    def __init__(self, values: Any) -> None:
        # kept as given when not a list: the Space's check names the parameter in the error
        listed = isinstance(values, (list, tuple))
        object.__setattr__(self, "values", tuple(values) if listed else values)

    def check(self, name: str) -> None:
        if not isinstance(self.values, tuple):
            raise ConfigError(f"{name}: expected a list of values, got {self.values!r}")
        if not self.values:
            raise ConfigError(f"{name}: expected at least one value to choose from, got []")
        for v in self.values:
            if not isinstance(v, (str, int, float, bool)):
                raise ConfigError(
                    f"{name}: expected strings, numbers or booleans, got {v!r} ({type(v).__name__})"
                )
        seen = []
        for v in self.values:  # 1 == 1.0 == True in Python: compare with the type
            key = (type(v), v)
            if key in seen:
                raise ConfigError(f"{name}: {v!r} is listed twice; expected distinct values")
            seen.append(key)

    def suggest(self, trial: Any, name: str) -> Any:
        return trial.suggest_categorical(name, list(self.values))

    def grid(self, name: str) -> list[Any]:
        return list(self.values)

    def endpoints(self) -> list[Any]:
        return list(self.values)

    def describe(self) -> list[Any]:
        return list(self.values)


Param = Float | Int | Choice


def _check_size(n: int, name: str) -> None:
    if n > MAX_GRID:
        raise ConfigError(
            f"{name}: the stepped range has {n} values, more than a grid takes ({MAX_GRID}); "
            "give a larger step or a list of values"
        )
