"""Build a checked ``architecture`` list (:mod:`.architecture`) for the run's data.

Input sizes come from the data: each layer is built for the shape the layers before it give
(``in_channels`` of a conv2d, ``in_features`` of a linear, ``num_features`` of a batch norm),
and its output shape is found by running it once on a zero batch of one row (no graph, eval
mode), so a kernel larger than its padded input fails here, naming the layer, before anything
is trained or written. Sizes a user writes anyway (``in_channels = 3``) must match.

The output layer:

- a list that ends with a ``linear`` ends with the output layer: its ``out_features`` must be
  the data's outputs (classes, or target columns);
- any other list (ending with an activation, a pooling, a dropout, ...) describes the hidden
  layers only, and the output ``Linear(F, n_out)`` is added (after a Flatten when the last
  layer gives images), the way ``hidden`` never lists the output width.

A ``residual`` layer without a ``shortcut`` adds its input unchanged when its block keeps the
shape, and a projection when the block changes it: a 1x1 Conv2d (stride s where the block
shrinks H and W by s) for images, a Linear without bias for rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import backend, nn
from ..config import no_grad
from ..errors import ConfigError, DeltapropError
from .architecture import TYPES

Shape = tuple[int, ...]  # one row: (C, H, W) for images, (F,) for flat rows
Init = tuple[str, "np.random.Generator | None"]  # the default initializer and the generator


@dataclass
class Built:
    """``model`` (a Sequential), the per-row ``shapes`` after each top-level layer (the input
    first) and the top-level layer names, for the run's header (:func:`describe`)."""

    model: nn.Sequential
    shapes: list[Shape] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


def shape_text(shape: Shape) -> str:
    """``(16, 4, 4)`` -> ``"16x4x4"``; ``(64,)`` -> ``"64"``."""
    return "x".join(str(s) for s in shape)


def _where_from(shape: Shape) -> str:
    if len(shape) == 3:
        return f"images (N, {shape[0]}, {shape[1]}, {shape[2]})"
    return f"rows of {shape[0]} features (N, {shape[0]})"


def build_architecture(
    layers: tuple[dict[str, Any], ...],
    in_shape: Shape,
    n_out: int,
    init: str = "default",
    name: str = "architecture",
    generator: np.random.Generator | None = None,
) -> Built:
    """The model of a checked layer list for inputs of one-row shape ``in_shape`` ((C, H, W)
    or (F,)) and ``n_out`` outputs; ``init`` is the initializer of every conv2d and linear that
    does not give its own; ``generator`` draws their initial values (None: deltaprop's, seeded
    by ``dp.seed``; a run's header passes its own so that describing a model leaves the
    run's random numbers as they were).

    Raises:
        ConfigError: naming the layer (``architecture[3]: ...``): an image layer on flat rows
            or a linear on images, sizes that do not match, a kernel larger than the padded
            input, a last linear whose out_features is not ``n_out``.
    """
    shape = tuple(int(s) for s in in_shape)
    built = Built(nn.Sequential(), [shape], [])
    for i, spec in enumerate(layers):
        module, shape = _build(spec, shape, (init, generator), f"{name}[{i}]")
        built.model.append(module)
        built.shapes.append(shape)
        built.names.append(spec["type"])
    last = layers[-1]
    if last["type"] == "linear":
        if shape != (n_out,):
            raise ConfigError(
                f"{name}[{len(layers) - 1}]: the last layer is a linear with out_features "
                f"{last['out_features']}, but the data has {n_out} outputs: expected "
                f"out_features = {n_out} (or end the list with its last hidden layer, e.g. an "
                "activation, and the output linear is added)"
            )
        return built
    if len(shape) != 1:
        built.model.append(nn.Flatten())
        shape = (math.prod(shape),)
        built.shapes.append(shape)
        built.names.append("flatten")
    built.model.append(nn.Linear(shape[0], n_out, init=init, generator=generator))
    built.shapes.append((n_out,))
    built.names.append("linear")
    return built


def _build(spec: dict[str, Any], shape: Shape, init: Init, where: str) -> tuple[nn.Module, Shape]:
    """One layer for inputs of ``shape``, and its output shape."""
    kind = spec["type"]
    takes = TYPES[kind].takes
    if takes == "images" and len(shape) != 3:
        raise ConfigError(
            f"{where}: {kind} expects images (N, C, H, W), got {_where_from(shape)}; image "
            "layers go before the flatten (and the data must be images)"
        )
    if takes == "rows" and len(shape) != 1:
        raise ConfigError(
            f"{where}: {kind} expects flat rows (N, features), got {_where_from(shape)}; put "
            '{ type = "flatten" } (or a global_avg_pool2d, then a flatten) before it'
        )
    if kind == "residual":
        return _residual(spec, shape, init, where)
    options = {k: v for k, v in spec.items() if k != "type"}
    size = shape[0]
    for key in ("in_channels", "in_features", "num_features"):
        given = options.pop(key, None)
        if given is not None and given != size:
            what = "channel" if len(shape) == 3 else "feature"
            raise ConfigError(
                f"{where}: {key} {given} does not match its input, {_where_from(shape)} with "
                f"{size} {what}{'s' if size != 1 else ''}; drop {key} (it is inferred) or "
                "change the layers before it"
            )
    try:
        module = _make(kind, options, shape, init)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {kind}: {exc}") from None
    return module, _output_shape(module, shape, kind, where)


def _make(kind: str, options: dict[str, Any], shape: Shape, init: Init) -> nn.Module:
    c = shape[0]
    weights = {"init": init[0], **options, "generator": init[1]}
    if kind == "conv2d":
        return nn.Conv2d(c, weights.pop("out_channels"), **weights)
    if kind == "linear":
        return nn.Linear(c, weights.pop("out_features"), **weights)
    if kind == "batchnorm":
        kind = "batchnorm2d" if len(shape) == 3 else "batchnorm1d"
    simple = {
        "maxpool2d": nn.MaxPool2d, "avgpool2d": nn.AvgPool2d, "flatten": nn.Flatten,
        "global_avg_pool2d": nn.GlobalAvgPool2d, "dropout": nn.Dropout,
        "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "relu": nn.ReLU, "gelu": nn.GELU,
        "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
    }  # fmt: skip
    if kind in simple:
        return simple[kind](**options)
    if kind == "batchnorm2d":
        return nn.BatchNorm2d(c, **options)
    if kind == "batchnorm1d":
        return nn.BatchNorm1d(c, **options)
    return nn.LayerNorm(c, **options)  # layernorm: the only type left


def _output_shape(module: nn.Module, shape: Shape, kind: str, where: str) -> Shape:
    """Run ``module`` on a zero row: its output shape, or the layer's own error, named."""
    params = module.parameters()
    dtype = params[0].data.dtype if params else backend.default_dtype()
    x = np.zeros((1, *shape), dtype=dtype)
    try:
        with no_grad(), module.evaluating():
            out = module(x)
    except DeltapropError as exc:
        raise ConfigError(f"{where}: {kind}: {exc}") from None
    out_shape = tuple(int(s) for s in out.shape[1:])
    if 0 in out_shape or len(out_shape) not in (1, 3):
        raise ConfigError(f"{where}: {kind} gives rows of shape {out_shape} from {shape}")
    return out_shape


def _sequence(layers: tuple[dict[str, Any], ...], shape: Shape, init: Init, where: str):
    seq = nn.Sequential()
    for i, spec in enumerate(layers):
        module, shape = _build(spec, shape, init, f"{where}[{i}]")
        seq.append(module)
    return seq, shape


def _residual(spec: dict[str, Any], shape: Shape, init: Init, where: str):
    block, out = _sequence(spec["block"], shape, init, f"{where}.block")
    if "shortcut" in spec:
        shortcut, skip = _sequence(spec["shortcut"], shape, init, f"{where}.shortcut")
        if skip != out:
            raise ConfigError(
                f"{where}: the block maps {shape_text(shape)} to {shape_text(out)} but the "
                f"shortcut to {shape_text(skip)}; they must give the same shape"
            )
        return nn.Residual(block, shortcut), out
    if out == shape:
        return nn.Residual(block), out
    return nn.Residual(block, _projection(shape, out, init, where)), out


def _projection(shape: Shape, out: Shape, init: Init, where: str) -> nn.Module:
    """A learned skip from ``shape`` to ``out``: an identity cannot add one to the other."""
    name, generator = init
    if len(shape) == 1 and len(out) == 1:
        return nn.Linear(shape[0], out[0], bias=False, init=name, generator=generator)
    if len(shape) == 3 and len(out) == 3:
        stride = max(1, -(-shape[1] // out[1]))  # ceil: 8 -> 4 is stride 2, 7 -> 4 too
        if all((n - 1) // stride + 1 == m for n, m in zip(shape[1:], out[1:], strict=True)):
            return nn.Conv2d(shape[0], out[0], 1, stride=stride, bias=False, init=name,
                             generator=generator)  # fmt: skip
    raise ConfigError(
        f"{where}: the block maps {shape_text(shape)} to {shape_text(out)}, and no 1x1 "
        "projection maps one to the other; give a 'shortcut' list, or keep images as images "
        "and rows as rows inside the block"
    )


def describe(built: Built) -> str:
    """``1x8x8 > conv2d 16x8x8 > relu > maxpool2d 16x4x4 > flatten 256 > linear 10``: each
    layer with the shape it gives when it changes the shape."""
    parts = [shape_text(built.shapes[0])]
    for name, before, after in zip(built.names, built.shapes[:-1], built.shapes[1:], strict=True):
        parts.append(name if after == before else f"{name} {shape_text(after)}")
    return " > ".join(parts)
