"""The ``architecture`` key: a network written as a list of layers, each a table of options.

In TOML (``deltaprop train --config run.toml``)::

    [[architecture]]
    type = "conv2d"
    out_channels = 16
    kernel_size = 3
    padding = 1

    [[architecture]]
    type = "relu"

and in Python ``Recipe(architecture=[{"type": "conv2d", "out_channels": 16, "kernel_size": 3,
"padding": 1}, {"type": "relu"}, ...])``. A ``residual`` layer holds a ``block`` (a list of
layers, the same form) and optionally a ``shortcut`` (another list; by default the identity,
or a projection where the block changes the shape, see :mod:`.architecture_build`).

This module checks the list once, when a Recipe is made (:func:`check_architecture`): every
type known (names resolved through :func:`deltaprop.names.lookup`), every key known for its
type, required keys present, each value checked through :mod:`deltaprop.checks`. Errors name
the layer by its index and the key: ``architecture[2]: unknown key 'kernal_size' for conv2d;
expected one of ...``. What needs the data (channels, sizes) is checked when the model is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import nn
from ..checks import check_bool, check_fraction, check_int, check_pair, check_real
from ..errors import ConfigError
from ..names import lookup

Check = Callable[[Any, str], Any]


def _pair(minimum: int = 1) -> Check:
    # An int or an [h, w] pair, kept in the form the user wrote (JSON: an int or a list).
    def check(value: Any, name: str) -> Any:
        h, w = check_pair(value, name, minimum=minimum)
        return h if isinstance(value, int) else [h, w]

    return check


def _init(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{name}: expected an initializer name, got {value!r}")
    nn.init.canonical_name(value.strip(), name)
    return value.strip()


def _real(value: Any, name: str) -> float:
    return check_real(value, name, minimum=None)


#: Every option a layer may have, with its check. Layers list which of these they take.
KEYS: dict[str, Check] = {
    "in_channels": check_int,
    "out_channels": check_int,
    "in_features": check_int,
    "out_features": check_int,
    "num_features": check_int,
    "kernel_size": _pair(),
    "stride": _pair(),
    "padding": _pair(minimum=0),
    "dilation": _pair(),
    "bias": check_bool,
    "init": _init,
    "p": lambda v, n: check_fraction(v, n, closed_low=True),
    "eps": lambda v, n: check_real(v, n, strict=True),
    "momentum": lambda v, n: check_fraction(v, n, closed_low=True, closed_high=True),
    "negative_slope": _real,
    "alpha": _real,
}


@dataclass(frozen=True)
class LayerType:
    """One ``type`` of the list: its required and optional keys and the input it takes
    (``"images"`` (N, C, H, W), ``"rows"`` (N, F) or ``"any"``)."""

    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    takes: str = "any"
    nested: tuple[str, ...] = field(default=())  # keys that hold lists of layers

    @property
    def keys(self) -> tuple[str, ...]:
        return ("type", *self.required, *self.optional, *self.nested)


_CONV = ("in_channels", "stride", "padding", "dilation", "bias", "init")
_NORM = ("num_features", "eps", "momentum")
TYPES: dict[str, LayerType] = {
    "conv2d": LayerType(("out_channels", "kernel_size"), _CONV, "images"),
    "maxpool2d": LayerType(("kernel_size",), ("stride", "padding"), "images"),
    "avgpool2d": LayerType(("kernel_size",), ("stride", "padding"), "images"),
    "global_avg_pool2d": LayerType(takes="images"),
    "batchnorm2d": LayerType(optional=_NORM, takes="images"),
    "flatten": LayerType(),
    "linear": LayerType(("out_features",), ("in_features", "bias", "init"), "rows"),
    "batchnorm1d": LayerType(optional=_NORM, takes="rows"),
    "batchnorm": LayerType(optional=_NORM),  # 1d or 2d, as its input is
    "layernorm": LayerType(optional=("eps",), takes="rows"),
    "dropout": LayerType(optional=("p",)),
    "relu": LayerType(),
    "leaky_relu": LayerType(optional=("negative_slope",)),
    "elu": LayerType(optional=("alpha",)),
    "gelu": LayerType(),
    "sigmoid": LayerType(),
    "tanh": LayerType(),
    "residual": LayerType(nested=("block", "shortcut")),
}
#: Other spellings users reach for (after names.normalize: case and "-" do not matter).
ALIASES = {
    "conv": "conv2d", "dense": "linear", "maxpool": "maxpool2d", "max_pool2d": "maxpool2d",
    "avgpool": "avgpool2d", "avg_pool2d": "avgpool2d", "globalavgpool2d": "global_avg_pool2d",
    "adaptive_avg_pool2d": "global_avg_pool2d", "gap": "global_avg_pool2d",
    "batch_norm": "batchnorm", "batch_norm2d": "batchnorm2d", "batch_norm1d": "batchnorm1d",
    "layer_norm": "layernorm", "leakyrelu": "leaky_relu", "skip": "residual",
}  # fmt: skip


#: Residual blocks inside residual blocks, at most: a saved model's description nests about
#: three JSON levels per block, and model files refuse JSON nested more than 64 levels deep.
MAX_NESTING = 8


def check_architecture(value: Any, name: str = "architecture") -> tuple[dict[str, Any], ...] | None:
    """The checked list of layers, or None for none. Each layer comes back as a dict with its
    canonical ``type`` first and checked values (a ``residual``'s ``block``/``shortcut`` as
    tuples of such dicts).

    Raises:
        ConfigError: naming the layer (``architecture[2]``, ``architecture[3].block[0]``)
            and the key: an unknown type (the known ones listed), an unknown key (the keys of
            that type listed), a missing required key, a bad value, an empty list, residual
            blocks nested more than :data:`MAX_NESTING` deep.
    """
    if value is None:
        return None
    return _layers(value, name, 0)


def _layers(value: Any, where: str, depth: int) -> tuple[dict[str, Any], ...]:
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(
            f"{where}: expected a non-empty list of layers (TOML: [[{where}]] tables, each "
            f"with a type), got {value!r}"
        )
    if depth > MAX_NESTING:
        raise ConfigError(f"{where}: residual blocks nested more than {MAX_NESTING} deep")
    return tuple(_layer(item, f"{where}[{i}]", depth) for i, item in enumerate(value))


def _layer(item: Any, where: str, depth: int) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: expected a table with a type, e.g. {{ type = \"relu\" }}, "
                          f"got {item!r}")  # fmt: skip
    if "type" not in item:
        raise ConfigError(f"{where}: expected a 'type' key (one of {', '.join(TYPES)}), "
                          f"got keys {', '.join(map(str, item)) or 'none'}")  # fmt: skip
    kind = lookup(TYPES, item["type"], f"{where}: type", aliases=ALIASES)
    spec = TYPES[kind]
    for key in item:
        if key not in spec.keys:
            raise ConfigError(
                f"{where}: unknown key {key!r} for {kind}; expected one of {', '.join(spec.keys)}"
            )
    out: dict[str, Any] = {"type": kind}
    for key in spec.required:
        if key not in item:
            raise ConfigError(f"{where}: {kind} needs {key!r} (it has no default)")
    for key in (*spec.required, *spec.optional):
        if key in item:
            out[key] = KEYS[key](item[key], f"{where}.{key}")
    for key in spec.nested:
        if key in item:
            out[key] = _layers(item[key], f"{where}.{key}", depth + 1)
    if kind == "residual" and "block" not in out:
        raise ConfigError(f"{where}: residual needs 'block', the list of layers it skips over")
    return out


def takes_images(layers: tuple[dict[str, Any], ...] | None) -> bool:
    """Whether the list holds an image layer (conv2d, pooling, batchnorm2d), nested blocks
    included: then its input is images (N, C, H, W), else flat rows (N, F)."""
    for layer in layers or ():
        if TYPES[layer["type"]].takes == "images":
            return True
        if any(takes_images(layer.get(key)) for key in TYPES[layer["type"]].nested):
            return True
    return False


def to_json(layers: tuple[dict[str, Any], ...] | None) -> list[dict[str, Any]] | None:
    """The checked list as JSON values (nested tuples as lists), e.g. for ``to_dict``."""
    if layers is None:
        return None
    return [{k: to_json(v) if isinstance(v, tuple) else v for k, v in d.items()} for d in layers]
