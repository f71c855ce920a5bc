"""Validation of a run's values, once, in one place: every key checked (through
:mod:`deltaprop.checks` and :func:`deltaprop.names.lookup`), names canonicalized, the rules
between keys applied, and a ConfigError that names the key as its user typed it.

Rules between keys (as ``deltaprop train`` has always had them):

- ``0 <= warmup < epochs``;
- ``batchnorm`` and ``layernorm`` not both; ``batchnorm`` not with ``descent = "stochastic"``
  (batches of one row: said now, not when training starts);
- ``channels`` only with ``model = "cnn"``, ``layernorm`` only with ``"mlp"``;
- ``architecture`` alone: it replaces ``model``, ``hidden``, ``channels``, ``residual``,
  ``activation``, ``batchnorm``, ``layernorm`` and ``dropout`` (set one of them to anything but
  its default too, and it is an error rather than a key silently ignored);
- ``momentum`` only with the optimizers that have one (sgd, momentum, nesterov, rmsprop);
- ``labels_per_class``, ``semi`` and its options: see :mod:`.scarce`;
- ``validation_split`` becomes 0.1 when ``early_stopping`` or the ``plateau`` schedule needs a
  validation score and none was given.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from .. import nn, optim
from ..checks import check_bool, check_choice, check_fraction, check_int, check_real
from ..data import DESCENTS
from ..data.augment import parse_names
from ..data.checks import TASKS
from ..data.preprocess import IMPUTE
from ..errors import ConfigError
from ..names import normalize
from ..train.execution import execution_rules
from .architecture import check_architecture
from .fields import FIELD_SPECS
from .scarce import SCARCE_CHECKS, semi_rules
from .transfer import parse_freeze

CLASS_WEIGHTS = ("balanced",)  # sklearn's compute_class_weight rule
MOMENTUM_OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop")
MODELS = ("mlp", "cnn")
DEVICES = ("cpu", "cuda")  # a recipe names devices as the command line does ("gpu": cuda)
#: Keys whose default depends on ``model`` (their table default is None, "not given"): a cnn's
#: ``hidden`` is its dense head after the conv blocks, and batch norm after each convolution
#: is what makes the default cnn train fast with the shared optimizer defaults (sgd, lr 0.1,
#: 30 epochs). Chosen by measurement (README, "CNNs"): digits' test accuracy, seeds 0-4.
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "hidden": {"mlp": (256, 128), "cnn": (128,)},
    "batchnorm": {"mlp": False, "cnn": True},
}
#: The keys an ``architecture`` replaces (its layers say all of it).
LAYER_KEYS = ("model", "hidden", "channels", "residual", "activation", "batchnorm", "layernorm",
              "dropout")  # fmt: skip
DEFAULT_VALIDATION_SPLIT = 0.1  # when early stopping or plateau needs a validation score
#: Schedule names as the user writes them ("none" and the "plateau" callback included).
SCHEDULE_NAMES: tuple[str, ...] = ("none", *optim.SCHEDULES, "plateau")

Show = Callable[[str], str]


def choice(value: Any, names: tuple[str, ...] | list[str], name: str) -> str:
    """The canonical spelling among ``names`` ("cosine-restarts", "leaky_relu") of a user's
    name (any case, "-" or "_")."""
    table = {normalize(n): n for n in names}
    return table[check_choice(value, table, name, listed=names)]


def parse_channels(value: Any, name: str = "channels") -> tuple[int, ...]:
    """``"32,64"`` or ``[32, 64]`` -> ``(32, 64)``: one conv block per width, at least one."""
    widths = parse_hidden(value, name)
    if not widths:
        raise ConfigError(f"{name}: expected at least one width, e.g. 32,64, got {value!r}")
    return widths


def parse_hidden(value: Any, name: str = "hidden") -> tuple[int, ...]:
    """``"128,64"`` or ``[128, 64]`` -> ``(128, 64)``; ``""`` or ``[]`` -> ``()`` (a linear
    model)."""
    if isinstance(value, str):
        text = value.strip()
        parts: list[Any] = [p for p in text.split(",")] if text else []
        widths = []
        for part in parts:
            try:
                widths.append(int(part))
            except ValueError:
                widths.append(0)
    elif isinstance(value, (list, tuple)):
        widths = [v if isinstance(v, int) and not isinstance(v, bool) else 0 for v in value]
    else:
        widths = [0]
    if any(w < 1 for w in widths):
        raise ConfigError(f"{name}: expected positive integers separated by commas, got {value!r}")
    return tuple(int(w) for w in widths)


def _text(value: Any, name: str, optional: bool = False) -> str | None:
    """A string (a path may be any os.PathLike)."""
    if value is None and optional:
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise ConfigError(f"{name}: expected a string, got {value!r}")
    return value


def _init(value: Any, name: str) -> str:
    """An initializer name, kept as written (``"constant:0.5"`` must keep its value)."""
    text = _text(value, name).strip()
    try:
        nn.init.canonical_name(text, name)
    except ConfigError:
        allowed = ", ".join(nn.INITIALIZERS)
        raise ConfigError(
            f"{name}: expected one of {allowed} or constant:<number>, got {value!r}"
        ) from None
    return text


def _delimiter(value: Any, name: str) -> str | None:
    """One character; ``"\\t"`` and ``"tab"`` mean a tab."""
    if value is None:
        return None
    text = _text(value, name)
    text = "\t" if text in ("\\t", "tab") else text
    if len(text) != 1:
        raise ConfigError(f"{name}: expected one character such as ';' or '\\t', got {value!r}")
    return text


def _augment(value: Any, name: str) -> str | None:
    """``"Shift, noise"`` or ``["shift", "noise"]`` -> ``"shift,noise"`` (each name checked
    and spelled the table's way); ``""``, ``"none"`` and None -> None."""
    if value is None:
        return None
    names = parse_names(value, name)
    return ",".join(names) if names else None


def _optional(check: Callable[..., Any], **options: Any) -> Callable[[Any, str], Any]:
    return lambda v, n: None if v is None else check(v, n, **options)


_PATH = _optional(_text)
# key -> check(value, shown_name) -> the normalized value. Every key of the table is here.
CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "dataset": _text,
    "label": _PATH,
    "task": lambda v, n: None if v is None else choice(v, TASKS, n),
    "delimiter": _delimiter,
    "drop": _PATH,
    "impute": lambda v, n: None if v is None else choice(v, IMPUTE, n),
    "class_weight": lambda v, n: None if v is None else choice(v, CLASS_WEIGHTS, n),
    "model": lambda v, n: choice(v, MODELS, n),
    "hidden": parse_hidden,
    "channels": parse_channels,
    "residual": check_bool,
    # No flag: always named as the TOML key, "architecture[2]: ...", also from the CLI.
    "architecture": lambda v, n: check_architecture(v),
    "activation": lambda v, n: choice(v, nn.ACTIVATIONS, n),
    "init": _init,
    "optimizer": lambda v, n: choice(v, list(optim.OPTIMIZERS), n),
    "lr": _optional(check_real, strict=True),
    "momentum": _optional(check_real, maximum=1.0),
    "weight_decay": check_real,
    "schedule": lambda v, n: choice(v, SCHEDULE_NAMES, n),
    "warmup": lambda v, n: check_int(v, n, minimum=0),
    "epochs": check_int,
    "descent": lambda v, n: choice(v, DESCENTS, n),
    "batch_size": check_int,
    "l1": check_real,
    "l2": check_real,
    "dropout": lambda v, n: check_fraction(v, n, closed_low=True),
    "batchnorm": check_bool,
    "layernorm": check_bool,
    "augment": _augment,
    "synthetic": _PATH,
    "clip_norm": _optional(check_real, strict=True),
    "clip_value": _optional(check_real, strict=True),
    "early_stopping": _optional(check_int),
    "validation_split": _optional(check_fraction, closed_low=True),  # 0: no validation part
    "cv": _optional(check_int, minimum=2),
    "log_every": check_int,
    "seed": lambda v, n: check_int(v, n, minimum=0),
    "test_size": check_fraction,
    "drop_last": check_bool,
    "compile": check_bool,
    "lanes": check_int,
    "checkpoint": _PATH,
    "resume": _PATH,
    "save": _PATH,
    "metrics_out": _PATH,
    "plot": _PATH,
    **SCARCE_CHECKS,  # labels_per_class, semi and its options (recipe/scarce.py)
    "tensorboard": _PATH,
    "mlflow": check_bool,
    "distributed": check_bool,
    "device": lambda v, n: choice(v, DEVICES, n),
    "init_from": _PATH,
    "freeze": parse_freeze,
    "head_lr": _optional(check_real, strict=True),
    "body_lr": _optional(check_real, strict=True),
    "teacher": _PATH,
    "temperature": _optional(check_real, strict=True),
    "alpha": _optional(check_fraction, closed_low=True, closed_high=True),
}


def validate(values: dict[str, Any], show: Show = str) -> dict[str, Any]:
    """Check and normalize every value of a run (all keys present), fill the keys of
    :data:`MODEL_DEFAULTS` left None with their model's default, then apply the rules between
    keys; return the normalized values. ``show(key)`` names a key in messages (``"lr"`` or
    ``"--lr"``)."""
    out = {
        key: None if key in MODEL_DEFAULTS and value is None else CHECKS[key](value, show(key))
        for key, value in values.items()
    }
    for key, defaults in MODEL_DEFAULTS.items():
        if out[key] is None:
            out[key] = defaults[out["model"]]
    if out["momentum"] is not None and (
        out["optimizer"] not in MOMENTUM_OPTIMIZERS or out["momentum"] >= 1
    ):
        raise ConfigError(
            f"{show('momentum')}: expected a value in [0, 1) with {show('optimizer')} "
            f"{' or '.join(MOMENTUM_OPTIMIZERS)}, got {values['momentum']!r}"
        )
    if out["warmup"] >= out["epochs"]:
        raise ConfigError(
            f"{show('warmup')}: expected 0 <= warmup < {show('epochs')} ({out['epochs']}), "
            f"got {values['warmup']!r}"
        )
    _layer_rules(out, values, show)
    execution_rules(out, show)
    if out["batchnorm"] and out["layernorm"]:
        raise ConfigError(
            f"{show('batchnorm')} and {show('layernorm')}: expected at most one of them, got both"
        )
    semi_rules(out, show)
    for key in ("temperature", "alpha"):  # what a distillation run needs; else a slip
        if out[key] is not None and out["teacher"] is None:
            raise ConfigError(
                f"{show(key)}: only used when distilling, with {show('teacher')}; got no teacher"
            )
    needs_val = out["early_stopping"] is not None or out["schedule"] == "plateau"
    if needs_val and out["validation_split"] is None:
        out["validation_split"] = DEFAULT_VALIDATION_SPLIT
    return out


def _layer_rules(out: dict[str, Any], values: dict[str, Any], show: Show) -> None:
    """The model keys that go together (see the module docstring)."""

    def changed(key: str) -> bool:  # not its default (to_dict's values come back as given)
        default = FIELD_SPECS[key].default
        if key in MODEL_DEFAULTS:
            return out[key] != MODEL_DEFAULTS[key][out["model"]]
        return out[key] != CHECKS[key](default, key) if default is not None else False

    if out["architecture"] is not None:
        given = [show(k) for k in LAYER_KEYS if changed(k)]
        if given:
            raise ConfigError(
                f"architecture: its layers replace {', '.join(show(k) for k in LAYER_KEYS)}; "
                f"expected none of them, got also {', '.join(given)}"
            )
        return
    if out["model"] == "mlp" and changed("channels"):
        raise ConfigError(
            f"{show('channels')}: conv block widths need {show('model')} cnn, got "
            f"{show('model')} mlp; give {show('model')} cnn, or --hidden for an mlp's widths"
        )
    if out["batchnorm"] and out["descent"] == "stochastic":
        default = " (on by default for a cnn)" if values["batchnorm"] is None else ""
        off = "--no-batchnorm" if show("batchnorm").startswith("--") else "batchnorm=False"
        raise ConfigError(
            f"{show('descent')} stochastic: batch normalization{default} needs batches of 2 "
            f"rows or more, and stochastic descent gives 1; use {show('descent')} minibatch, "
            f"or {off}"
        )
    if out["model"] == "cnn" and out["layernorm"]:
        raise ConfigError(
            f"{show('layernorm')}: applies to {show('model')} mlp; a cnn normalizes with "
            f"{show('batchnorm')}"
        )
