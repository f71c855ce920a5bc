"""A search space over the keys of a run recipe: ``Space(lr=LogFloat(1e-4, 1e-1),
hidden=Choice(["64", "128,64"]))``, or a TOML ``[space]`` table
(``lr = { low = 1e-4, high = 1e-1, log = true }``, ``activation = ["relu", "tanh"]``).

Every key of :data:`~deltaprop.recipe.FIELDS` that shapes training can be searched
(:data:`SEARCHABLE`); the keys that fix the data, its split and the outputs cannot (the test
part must be the same for every trial). Two more names build ``hidden``: ``layers`` (how
many hidden layers) and ``units`` (the width of each). ``momentum`` is asked for only in
trials whose optimizer has one.

>>> space = Space(lr=LogFloat(1e-3, 1e-1), activation=Choice(["relu", "tanh"]))
>>> list(space.params)
['activation', 'lr']
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import ConfigError
from ..recipe import FIELD_SPECS, Recipe
from ..recipe.spec import load_toml
from ..recipe.validate import CHECKS, MOMENTUM_OPTIMIZERS
from .params import Choice, Float, Int, LogFloat, Param

#: Recipe keys a search may vary, in the table's order (``optimizer`` before ``momentum``).
SEARCHABLE: tuple[str, ...] = tuple(
    name for name in FIELD_SPECS
    if name in {
        "hidden", "channels", "residual", "activation", "init", "optimizer", "lr", "momentum",
        "weight_decay", "schedule", "warmup", "epochs", "descent", "batch_size", "l1", "l2",
        "dropout", "batchnorm", "layernorm", "augment", "clip_norm", "clip_value",
        "early_stopping", "drop_last", "class_weight",
    }
)  # fmt: skip
#: Names that build ``hidden``: how many hidden layers, and the width of each.
HIDDEN_PARTS = ("layers", "units")
#: Why a recipe key cannot be searched.
FIXED_WHY = {
    "seed": "every trial trains with the recipe's seed, and the seed fixes the test split",
    "test_size": "the test part is split once, before the study",
    "validation_split": "every trial is scored on the same validation part",
    "cv": "k-fold or holdout is chosen for the whole study",
    "model": "the data's shape depends on it; set model in the recipe, search channels/hidden",
    "architecture": "a list of layers; search the layer keys (hidden, activation, ...) instead",
}
TABLE_KEYS = ("low", "high", "step", "log")


class Space:
    """Search parameters by recipe key (or ``layers``/``units``), each a :class:`Float`,
    :class:`LogFloat`, :class:`Int` or :class:`Choice`.

    Raises:
        ConfigError: an unknown or fixed key, a parameter kind the key cannot take (a Float
            for ``batch_size``), a bad range (low >= high, a log range touching 0), an empty
            or repeated choice, a value the key refuses (``activation="relux"``); the message
            names the parameter.
    """

    def __init__(self, where: str = "space", **params: Any) -> None:
        self.where = where
        named = {}
        for key, param in params.items():
            name = key.replace("-", "_")
            _check_name(name, key, where)
            named[name] = _check_param(name, param, where)
        if "hidden" in named and set(HIDDEN_PARTS) & set(named):
            raise ConfigError(
                f"{where}: hidden and {'/'.join(HIDDEN_PARTS)} both build the hidden layers; "
                "expected one of them"
            )
        order = [*SEARCHABLE[: SEARCHABLE.index("hidden") + 1], *HIDDEN_PARTS, *SEARCHABLE]
        self.params: dict[str, Param] = {n: named[n] for n in dict.fromkeys(order) if n in named}

    # --- making one ----------------------------------------------------------------------
    @classmethod
    def from_dict(cls, table: dict[str, Any], where: str = "space") -> Space:
        """A Space from a TOML-like table: a list is a Choice; ``{low, high}`` (with ``log``,
        ``step``) is an Int for an integer key when both ends are integers, else a Float."""
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: expected a table of parameters, got {table!r}")
        params = {}
        for key, value in table.items():
            name = str(key).replace("-", "_")
            _check_name(name, key, where)
            params[name] = _from_toml(name, value, where)
        return cls(where=where, **params)

    @classmethod
    def from_toml(cls, path: str | os.PathLike, where: str = "space") -> Space:
        """The ``[space]`` table of a TOML file; the file may also hold the recipe (a
        ``[train]`` table, read by ``--config``), and nothing else."""
        path = os.fspath(path)
        raw = load_toml(path, where)
        other = [k for k in raw if k not in ("space", "train")]
        if other:
            raise ConfigError(
                f"{where}: unknown key {other[0]!r} in {path}; expected a [space] table (and "
                "optionally the recipe's [train] table)"
            )
        if "space" not in raw:
            raise ConfigError(f"{where}: {path} has no [space] table")
        return cls.from_dict(raw["space"], where=f"{where} {path}")

    # --- using one -------------------------------------------------------------------------
    def check(self, base: Recipe) -> None:
        """Each value the space can give is one ``base`` accepts (``channels`` needs a cnn,
        ``momentum`` an optimizer with one): a ConfigError before any trial runs."""
        optimizers = self.params.get("optimizer")
        names = optimizers.values if isinstance(optimizers, Choice) else (base.optimizer,)
        for name, param in self.params.items():
            if name in HIDDEN_PARTS:
                continue
            for value in param.endpoints():
                changes = {name: value}
                if name == "momentum":
                    with_momentum = [o for o in names if o in MOMENTUM_OPTIMIZERS]
                    changes["optimizer"] = with_momentum[0] if with_momentum else base.optimizer
                try:
                    base.replace(**changes)
                except ConfigError as exc:
                    raise ConfigError(f"{self.where}: {name} {value!r}: {exc}") from None

    def grid(self) -> dict[str, list[Any]]:
        """The values of every parameter, for Optuna's GridSampler; a continuous range is a
        ConfigError naming it."""
        return {name: p.grid(f"{self.where}: {name}") for name, p in self.params.items()}

    def grid_size(self) -> int:
        n = 1
        for values in self.grid().values():
            n *= len(values)
        return n

    def suggest(self, trial: Any, base: Recipe) -> Recipe:
        """The trial's recipe: ``base`` with a value of each parameter (asked of ``trial`` in
        the space's order). Raises ConfigError when the values do not go together (the
        trial is then recorded as failed, with the message)."""
        changes: dict[str, Any] = {}
        for name, param in self.params.items():
            if name == "momentum":
                optimizer = changes.get("optimizer", base.optimizer)
                if optimizer not in MOMENTUM_OPTIMIZERS:
                    continue  # a conditional parameter: adam has no momentum to search
            changes[name] = param.suggest(trial, name)
        if set(HIDDEN_PARTS) & set(changes):
            widths = base.hidden or (64,)
            layers = changes.pop("layers", len(base.hidden))
            units = changes.pop("units", widths[0])
            changes["hidden"] = ",".join([str(units)] * layers)
        if "optimizer" in changes and base.momentum is not None:
            if changes["optimizer"] not in MOMENTUM_OPTIMIZERS and "momentum" not in changes:
                changes["momentum"] = None  # the recipe's momentum belongs to its optimizer
        return base.replace(**changes)

    def describe(self) -> dict[str, Any]:
        """The space as TOML/JSON values (the form ``[space]`` tables take)."""
        return {name: p.describe() for name, p in self.params.items()}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and self.params == other.params

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"Space({inner})"


def default_space(base: Recipe, strategy: str = "bayes") -> Space:
    """The space searched when none is given: optimizer, learning rate, hidden layers and
    their width, activation, dropout (and a cnn's channels). For a grid, a few listed values
    of each."""
    if strategy == "grid":
        params: dict[str, Any] = {
            "optimizer": Choice(["sgd", "adam"]),
            "lr": Choice([1e-3, 1e-2, 1e-1]),
            "hidden": Choice(["64", "128,64"] if base.model == "mlp" else ["64", "128"]),
            "dropout": Choice([0.0, 0.2]),
        }
    else:
        params = {
            "optimizer": Choice(["sgd", "momentum", "adam"]),
            "lr": LogFloat(1e-4, 0.3),
            "layers": Int(1, 3),
            "units": Int(16, 256, log=True),
            "activation": Choice(["relu", "tanh", "gelu"]),
            "dropout": Float(0.0, 0.5),
        }
    if base.model == "cnn":
        params["channels"] = Choice(["16,32", "32,64"])
    if base.architecture is not None:  # its layers are fixed: search the optimizer only
        params = {k: params[k] for k in ("optimizer", "lr")}
    return Space(**params)


def _check_name(name: str, key: Any, where: str) -> None:
    if name in SEARCHABLE or name in HIDDEN_PARTS:
        return
    if name in FIELD_SPECS:
        why = FIXED_WHY.get(name, "it is not part of training (data, files, printing)")
        raise ConfigError(
            f"{where}: {key} cannot be searched ({why}); set it in the recipe (--config or "
            "its flag)"
        )
    allowed = ", ".join((*SEARCHABLE, *HIDDEN_PARTS))
    raise ConfigError(f"{where}: unknown parameter {key!r}; searchable: {allowed}")


def _kind(name: str) -> type:
    return int if name in HIDDEN_PARTS else FIELD_SPECS[name].kind


def _check_param(name: str, param: Any, where: str) -> Param:
    shown = f"{where}: {name}"
    if not isinstance(param, (Float, Int, Choice)):
        raise ConfigError(
            f"{shown}: expected Float, LogFloat, Int or Choice, got {param!r} (a fixed value "
            "goes in the recipe)"
        )
    param.check(shown)
    kind = _kind(name)
    if kind in (str, bool) and not isinstance(param, Choice):
        raise ConfigError(f"{shown}: expected a Choice (a list of values), got {param!r}")
    if kind is int and isinstance(param, Float):
        raise ConfigError(f"{shown}: expected Int or Choice for an integer key, got {param!r}")
    values = param.endpoints()
    if name in HIDDEN_PARTS:
        low = 0 if name == "layers" else 1
        bad = [v for v in values if isinstance(v, bool) or not isinstance(v, int) or v < low]
        if bad:
            raise ConfigError(f"{shown}: expected integers >= {low}, got {bad[0]!r}")
        return param
    for value in values:
        try:
            CHECKS[name](value, shown)
        except ConfigError as exc:
            raise ConfigError(str(exc)) from None
    return param


def _from_toml(name: str, value: Any, where: str) -> Param:
    shown = f"{where}: {name}"
    if isinstance(value, list):
        return Choice(value)
    if not isinstance(value, dict):
        raise ConfigError(
            f"{shown}: expected a list of values or a table {{ low = ..., high = ... }}, got "
            f"{value!r} (a fixed value goes in the recipe)"
        )
    unknown = [k for k in value if k not in TABLE_KEYS]
    if unknown:
        raise ConfigError(f"{shown}: unknown key {unknown[0]!r}; expected {', '.join(TABLE_KEYS)}")
    for key in ("low", "high"):
        if key not in value:
            raise ConfigError(f"{shown}: expected {key} in the table, got {value!r}")
    ints = all(isinstance(value.get(k, 1), int) for k in ("low", "high", "step"))
    if _kind(name) is int or (ints and _kind(name) is not float):
        return Int(value["low"], value["high"], value.get("step", 1), value.get("log", False))
    if value.get("log") is True and "step" not in value:
        return LogFloat(value["low"], value["high"])
    return Float(value["low"], value["high"], value.get("step"), value.get("log", False))
