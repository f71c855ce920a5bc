"""Each layer's ONNX form, in inference (eval) mode: one function per layer class.

A converter gets the :class:`~.graph.Graph`, the layer, the name of its input value, the
shape of its input on the example (batch first; the batch size itself is not used) and the
layer's dotted path, and returns the name of its output value. Containers (Sequential,
Residual, Checkpointed) are walked by :func:`convert`, which runs each layer on the example
as it goes so that every converter knows its input's shape.

Forms (opset 17):

- Linear: Gemm on (N, in) inputs, MatMul + Add on inputs of more axes; the weight is
  (in, out) already, so no transpose.
- ReLU, LeakyReLU, ELU, Sigmoid, Tanh, Softmax, LogSoftmax: the operators of those names;
  GELU: ``0.5 x (1 + erf(x / sqrt 2))`` (or its tanh form), as opset 17 has no Gelu.
- Dropout, Identity: Identity (dropout does nothing in eval mode).
- BatchNorm1d/2d: BatchNormalization with the running statistics; without them
  (``track_running_stats=False``, batch statistics in eval mode too) the same arithmetic on
  the batch's own mean and biased variance, from ReduceMean.
- LayerNorm: LayerNormalization over the trailing ``normalized_shape`` axes.
- Conv2d: Conv; MaxPool2d: MaxPool (padding never wins a max, as deltaprop's -inf);
  AvgPool2d: AveragePool with ``count_include_pad=1`` (zeros counted, as deltaprop);
  AdaptiveAvgPool2d(1) / GlobalAvgPool2d: GlobalAveragePool.
- Flatten: Flatten for ``start_axis=1``, else Reshape keeping the leading axes.
- Embedding: Gather of the table's rows by the indices cast to int64.
- Residual: the block and the shortcut (or the input), then Add.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import nn
from ..autograd.tensor import Tensor
from ..errors import ConfigError
from ..nn.recompute import Checkpointed
from .graph import Graph

Shape = tuple[int, ...]
Converter = Callable[[Graph, Any, str, Shape, str], str]


def _array(t: Tensor | None) -> np.ndarray | None:
    return None if t is None else t.numpy()


def _linear(g: Graph, layer: nn.Linear, x: str, shape: Shape, where: str) -> str:
    w = g.const(f"{where}.weight", _array(layer.weight))
    if len(shape) == 2:
        inputs = [x, w] + ([g.const(f"{where}.bias", _array(layer.bias))] if layer.bias else [])
        return g.node("Gemm", inputs, where)
    y = g.node("MatMul", [x, w], where)
    if layer.bias is None:
        return y
    return g.node("Add", [y, g.const(f"{where}.bias", _array(layer.bias))], where)


def _simple(op: str, **fixed: Any) -> Converter:
    def convert(g: Graph, layer: Any, x: str, shape: Shape, where: str) -> str:
        return g.node(op, [x], where, **fixed)

    return convert


def _leaky_relu(g: Graph, layer: nn.LeakyReLU, x: str, shape: Shape, where: str) -> str:
    return g.node("LeakyRelu", [x], where, alpha=float(layer.negative_slope))


def _elu(g: Graph, layer: nn.ELU, x: str, shape: Shape, where: str) -> str:
    return g.node("Elu", [x], where, alpha=float(layer.alpha))


def _softmax(op: str) -> Converter:
    def convert(g: Graph, layer: Any, x: str, shape: Shape, where: str) -> str:
        return g.node(op, [x], where, axis=int(layer.axis))

    return convert


def _gelu(g: Graph, layer: nn.GELU, x: str, shape: Shape, where: str) -> str:
    half, one = g.scalar(f"{where}.half", 0.5), g.scalar(f"{where}.one", 1.0)
    if layer.approximate == "tanh":  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        cube = g.node("Mul", [g.node("Mul", [x, x], where), x], where)
        inner = g.node("Add", [x, g.node("Mul", [cube, g.scalar(f"{where}.c", 0.044715)],
                                          where)], where)  # fmt: skip
        scaled = g.node("Mul", [inner, g.scalar(f"{where}.k", math.sqrt(2.0 / math.pi))], where)
        gate = g.node("Tanh", [scaled], where)
    else:  # 0.5 x (1 + erf(x / sqrt 2))
        gate = g.node("Erf", [g.node("Mul", [x, g.scalar(f"{where}.k", 1 / math.sqrt(2))],
                                     where)], where)  # fmt: skip
    return g.node("Mul", [g.node("Mul", [x, half], where), g.node("Add", [gate, one], where)],
                  where)  # fmt: skip


def _identity(g: Graph, layer: Any, x: str, shape: Shape, where: str) -> str:
    return g.node("Identity", [x], where)


def _batch_norm(g: Graph, layer: nn.BatchNorm1d, x: str, shape: Shape, where: str) -> str:
    c = layer.num_features
    weight = _array(layer.weight) if layer.affine else np.ones(c)
    bias = _array(layer.bias) if layer.affine else np.zeros(c)
    if layer.running_mean is not None:
        inputs = [x, g.const(f"{where}.weight", weight), g.const(f"{where}.bias", bias),
                  g.const(f"{where}.running_mean", _array(layer.running_mean)),
                  g.const(f"{where}.running_var", _array(layer.running_var))]  # fmt: skip
        return g.node("BatchNormalization", inputs, where, epsilon=float(layer.eps))
    # No running statistics: eval mode normalizes with the batch's own, as training does.
    axes = [0, *range(2, len(shape))]
    mean = g.node("ReduceMean", [x], where, axes=axes, keepdims=1)
    centred = g.node("Sub", [x, mean], where)
    var = g.node("ReduceMean", [g.node("Mul", [centred, centred], where)], where, axes=axes,
                 keepdims=1)  # fmt: skip
    std = g.node("Sqrt", [g.node("Add", [var, g.scalar(f"{where}.eps", layer.eps)], where)],
                 where)  # fmt: skip
    per_channel = (c,) + (1,) * (len(shape) - 2)  # broadcasts over (N, C, ...)
    gamma = g.const(f"{where}.weight", weight.reshape(per_channel))
    scaled = g.node("Mul", [g.node("Div", [centred, std], where), gamma], where)
    return g.node("Add", [scaled, g.const(f"{where}.bias", bias.reshape(per_channel))], where)


def _layer_norm(g: Graph, layer: nn.LayerNorm, x: str, shape: Shape, where: str) -> str:
    normalized = layer.normalized_shape
    weight = _array(layer.weight) if layer.weight is not None else np.ones(normalized)
    inputs = [x, g.const(f"{where}.weight", weight)]
    if layer.bias is not None:
        inputs.append(g.const(f"{where}.bias", _array(layer.bias)))
    return g.node("LayerNormalization", inputs, where, axis=-len(normalized),
                  epsilon=float(layer.eps))  # fmt: skip


def _pads(padding: tuple[int, int]) -> list[int]:
    return [padding[0], padding[1], padding[0], padding[1]]  # top, left, bottom, right


def _conv(g: Graph, layer: nn.Conv2d, x: str, shape: Shape, where: str) -> str:
    inputs = [x, g.const(f"{where}.weight", _array(layer.weight))]
    if layer.bias is not None:
        inputs.append(g.const(f"{where}.bias", _array(layer.bias)))
    return g.node("Conv", inputs, where, kernel_shape=list(layer.kernel_size),
                  strides=list(layer.stride), pads=_pads(layer.padding),
                  dilations=list(layer.dilation))  # fmt: skip


def _max_pool(g: Graph, layer: nn.MaxPool2d, x: str, shape: Shape, where: str) -> str:
    return g.node("MaxPool", [x], where, kernel_shape=list(layer.kernel_size),
                  strides=list(layer.stride), pads=_pads(layer.padding))  # fmt: skip


def _avg_pool(g: Graph, layer: nn.AvgPool2d, x: str, shape: Shape, where: str) -> str:
    return g.node("AveragePool", [x], where, kernel_shape=list(layer.kernel_size),
                  strides=list(layer.stride), pads=_pads(layer.padding),
                  count_include_pad=1)  # fmt: skip


def _flatten(g: Graph, layer: nn.Flatten, x: str, shape: Shape, where: str) -> str:
    start = layer.start_axis % len(shape)
    if start == 1:
        return g.node("Flatten", [x], where, axis=1)
    # Reshape: 0 copies an input axis (the batch stays dynamic), -1 takes the rest.
    target = np.array([0] * start + [-1], dtype=np.int64)
    return g.node("Reshape", [x, g.const(f"{where}.shape", target, keep_dtype=True)], where)


def _unflatten(g: Graph, layer: nn.Unflatten, x: str, shape: Shape, where: str) -> str:
    # 0 copies the (dynamic) batch axis.
    target = np.array([0, *layer.shape], dtype=np.int64)
    return g.node("Reshape", [x, g.const(f"{where}.shape", target, keep_dtype=True)], where)


def _upsample(g: Graph, layer: nn.Upsample, x: str, shape: Shape, where: str) -> str:
    # Nearest 2x: asymmetric coordinates with floor rounding copy pixel (i, j) into the 2x2
    # block at (2i, 2j), exactly deltaprop's reshape-and-broadcast.
    scales = g.const(f"{where}.scales", np.array([1, 1, 2, 2], dtype=np.float32), keep_dtype=True)
    return g.node("Resize", [x, "", scales], where, mode="nearest",
                  coordinate_transformation_mode="asymmetric", nearest_mode="floor")  # fmt: skip


def _embedding(g: Graph, layer: nn.Embedding, x: str, shape: Shape, where: str) -> str:
    indices = g.node("Cast", [x], where, to=g.elem_type(np.int64))
    return g.node("Gather", [g.const(f"{where}.weight", _array(layer.weight)), indices], where,
                  axis=0)  # fmt: skip


#: Layer class -> converter. Exact classes only: a subclass may compute something else.
CONVERTERS: dict[type, Converter] = {
    nn.Linear: _linear,
    nn.ReLU: _simple("Relu"),
    nn.LeakyReLU: _leaky_relu,
    nn.ELU: _elu,
    nn.GELU: _gelu,
    nn.Sigmoid: _simple("Sigmoid"),
    nn.Tanh: _simple("Tanh"),
    nn.Softmax: _softmax("Softmax"),
    nn.LogSoftmax: _softmax("LogSoftmax"),
    nn.Dropout: _identity,
    nn.Identity: _identity,
    nn.BatchNorm1d: _batch_norm,
    nn.BatchNorm2d: _batch_norm,
    nn.LayerNorm: _layer_norm,
    nn.Conv2d: _conv,
    nn.MaxPool2d: _max_pool,
    nn.AvgPool2d: _avg_pool,
    nn.AdaptiveAvgPool2d: _simple("GlobalAveragePool"),
    nn.GlobalAvgPool2d: _simple("GlobalAveragePool"),
    nn.Flatten: _flatten,
    nn.Unflatten: _unflatten,
    nn.Upsample: _upsample,
    nn.Embedding: _embedding,
}

#: Registered layers that have no single ONNX graph, by name (no import of their packages),
#: with what to export instead.
REFUSED = {
    "GANNetworks": "a GAN's generator and discriminator together compute nothing; export one "
    "of them (gan.generator or gan.discriminator)",
}

#: What walks into its sub-modules instead of being converted itself.
CONTAINERS = (nn.Sequential, nn.Residual, Checkpointed)


def exportable() -> list[str]:
    """The names of the layer classes that export (for error messages and the docs)."""
    return sorted({c.__name__ for c in (*CONVERTERS, *CONTAINERS)})


def convert(g: Graph, module: Any, x: str, value: Tensor, path: str) -> tuple[str, Tensor]:
    """Add ``module`` applied to the value named ``x`` (``value`` on the example, eval mode,
    no graph) to ``g``; returns the output's name and its value on the example."""
    where = path or type(module).__name__
    if type(module) is nn.Sequential:
        for i, layer in enumerate(module):
            x, value = convert(g, layer, x, value, f"{path}.{i}" if path else str(i))
        return x, value
    if type(module) is nn.Residual:
        y, _ = convert(g, module.block, x, value, f"{path}.block" if path else "block")
        s = x
        if module.shortcut is not None:
            s, _ = convert(g, module.shortcut, x, value,
                           f"{path}.shortcut" if path else "shortcut")  # fmt: skip
        return g.node("Add", [y, s], where), module(value)
    if type(module) is Checkpointed:  # the same forward; recomputation is a training matter
        return convert(g, module.segment, x, value, f"{path}.segment" if path else "segment")
    converter = CONVERTERS.get(type(module))
    if type(module).__name__ in REFUSED:
        raise ConfigError(
            f"model: layer {path or '(the model itself)'!r} is a {type(module).__name__}: "
            f"{REFUSED[type(module).__name__]}"
        )
    if converter is None:
        raise ConfigError(
            f"model: layer {path or '(the model itself)'!r} is a {type(module).__qualname__}, "
            f"which has no ONNX form; layers that export: {', '.join(exportable())}"
        )
    return converter(g, module, x, tuple(value.shape), where), module(value)
