""":class:`Recipe`: one typed, validated description of a training run.

Its fields are the keys of :data:`~deltaprop.recipe.fields.FIELDS` (the same keys as TOML files
and ``deltaprop train``'s flags) with the same defaults. Values are checked and normalized once,
when a Recipe is made (``hidden="128,64"`` -> ``(128, 64)``, ``optimizer="Adam"`` ->
``"adam"``); a bad value raises ConfigError naming the key (``lr: expected ...``, or
``--lr: expected ...`` for a recipe the command line built, ``source="cli"``).

>>> r = Recipe(dataset="iris", hidden="16,8", optimizer="Adam", lr=0.01)
>>> r.hidden, r.optimizer
((16, 8), 'adam')
>>> r.replace(epochs=5).epochs
5
>>> r.to_dict()["hidden"]
'16,8'
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import InitVar
from typing import Any

from ..errors import ConfigError
from .architecture import to_json
from .fields import FIELD_SPECS, FIELDS, key_display
from .validate import MODEL_DEFAULTS, validate

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


class _RecipeMethods:
    """The behaviour of :class:`Recipe` (its fields come from the table)."""

    def __post_init__(self, source: str) -> None:
        show = key_display(source)
        given = {f.name: getattr(self, f.name) for f in FIELDS}
        values = validate(given, show)
        for key, value in values.items():
            object.__setattr__(self, key, value)  # frozen: normalize once, here
        # Not fields (not compared, not in to_dict): how messages name this recipe's keys, and
        # the keys that took their model's default (replace(model=...) takes the new one's).
        object.__setattr__(self, "source", source)
        unset = frozenset(k for k in MODEL_DEFAULTS if given[k] is None)
        object.__setattr__(self, "model_defaults", unset)

    def show(self, key: str) -> str:
        """A key as this recipe's user wrote it: ``"lr"`` or ``"--lr"``."""
        return key_display(self.source)(key)  # type: ignore[attr-defined]

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "python") -> Recipe:
        """A Recipe from a dict of keys (``"log-every"`` or ``"log_every"``); unknown keys are a
        ConfigError that lists the allowed ones."""
        if not isinstance(values, dict):
            raise ConfigError(f"values: expected a dict, got {type(values).__name__}")
        return cls(**_known_keys(values, "values"), source=source)

    @classmethod
    def from_toml(cls, path: str | os.PathLike, source: str = "python") -> Recipe:
        """A Recipe from a TOML file: a ``[train]`` table or top-level keys (see
        :func:`read_toml`); the keys it does not set keep their defaults."""
        return cls(**read_toml(path, source), source=source)

    def replace(self, **changes: Any) -> Recipe:
        """A new Recipe with ``changes`` applied (validated like a new one). Keys that took
        their model's default (:data:`~deltaprop.recipe.validate.MODEL_DEFAULTS`, e.g.
        ``hidden``) take the new model's: ``Recipe().replace(model="cnn").hidden`` is the
        cnn's dense head, ``(128,)``."""
        _known_keys(changes, "replace")
        source = self.source  # type: ignore[attr-defined]
        unset = {k: None for k in self.model_defaults if k not in changes}  # type: ignore[attr-defined]
        return dataclasses.replace(self, **unset, **changes, source=source)  # type: ignore[type-var]

    def to_dict(self) -> dict[str, Any]:
        """The recipe as JSON values, the form model files keep under ``"settings"``: ``hidden``
        and ``channels`` as ``"256,128"``, ``architecture`` as a list of dicts, everything else
        as it is."""
        out = {f.name: getattr(self, f.name) for f in FIELDS}
        for key in ("hidden", "channels"):
            out[key] = ",".join(str(h) for h in out[key])
        out["architecture"] = to_json(out["architecture"])
        return out


def _known_keys(values: dict[str, Any], where: str) -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        name = key.replace("-", "_") if isinstance(key, str) else key
        if name not in FIELD_SPECS:
            raise ConfigError(
                f"{where}: unknown key {key!r}; allowed keys: {', '.join(FIELD_SPECS)}"
            )
        out[name] = value
    return out


def read_toml(path: str | os.PathLike, source: str = "python") -> dict[str, Any]:
    """The keys a TOML file sets (a ``[train]`` table or top-level keys), each of the type its
    field has (an int where a float goes is fine; a list of ints is fine for ``hidden``).

    Raises:
        ConfigError: a missing or unreadable file, invalid TOML, an unknown key (the allowed
            keys are listed) or a value of the wrong type; the message starts ``--config:``
            when ``source="cli"``.
    """
    where = "--config" if source == "cli" else "config"
    path = os.fspath(path)
    raw = load_toml(path, where)
    if isinstance(raw.get("train"), dict):  # allow a [train] table or top-level keys
        raw = raw["train"]
    settings: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name not in FIELD_SPECS:
            allowed = ", ".join(FIELD_SPECS)
            raise ConfigError(f"{where}: unknown key {key!r} in {path}; allowed keys: {allowed}")
        settings[name] = _coerce(name, value, f"{where} key {key!r}")
    return settings


def _coerce(name: str, value: Any, where: str) -> Any:
    """A TOML value of the field's type (TOML has no None: a key that is there has a value)."""
    kind = FIELD_SPECS[name].kind
    if name in ("hidden", "channels", "augment", "semi_augment") and isinstance(value, list):
        value = ",".join(str(v) for v in value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is list and not isinstance(value, list):  # [architecture]: one bracket too few
        raise ConfigError(
            f"{where}: expected a list of layers, [[{name}]] tables (two brackets) or an array "
            f"of inline tables, got {value!r}"
        )
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}")
    return value


def _annotation(spec: Any) -> Any:
    kind = {"hidden": tuple[int, ...], "channels": tuple[int, ...],
            "architecture": tuple[dict[str, Any], ...]}.get(spec.name, spec.kind)  # fmt: skip
    # None: not given (a model default fills it, when made); the field holds a value after
    return kind | None if spec.default is None else kind


Recipe = dataclasses.make_dataclass(
    "Recipe",
    [(f.name, _annotation(f), dataclasses.field(default=f.default)) for f in FIELDS]
    + [("source", InitVar[str], dataclasses.field(default="python"))],
    bases=(_RecipeMethods,),
    frozen=True,
)
Recipe.__module__ = "deltaprop.recipe"
Recipe.__doc__ = (
    "One training run as data: the fields of ``deltaprop.recipe.FIELDS`` (``dataset``, "
    "``hidden``, ``optimizer``, ``lr``, ..., ``save``, ``metrics_out``, ``plot``), validated "
    "and normalized when made. ``source='cli'`` names keys as flags in error messages."
)


def load_toml(path: str | os.PathLike, where: str) -> dict[str, Any]:
    """A TOML file as a dict; ConfigError starting with ``where`` (the option that named the
    file) for a missing or unreadable file or invalid TOML."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{where}: file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: {path} is not valid TOML: {exc}") from None
