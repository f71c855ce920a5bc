""":func:`export_onnx`: a model as an ONNX file, in inference form, with a dynamic batch axis."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import io
from ..autograd.tensor import Tensor
from ..backend import default_dtype
from ..checks import require
from ..config import no_grad
from ..errors import ConfigError, DeltapropError, ShapeError
from ..nn.module import Module
from .graph import OPSET, Graph
from .layers import convert

INPUT, OUTPUT, BATCH = "input", "output", "batch"


def export_onnx(model: Module, path: io.PathLike, example_input: Any) -> Any:
    """Write ``model`` as an ONNX graph (opset 17) to ``path`` and return the ``ModelProto``.

    The graph is the model in eval mode: dropout is the identity, batch norm uses its running
    statistics. It has one input, ``"input"``, of shape ``("batch", *example_input.shape[1:])``
    and one output, ``"output"`` (the model's outputs: logits for a classifier), whose first
    axis is the same dynamic ``"batch"``; any batch size runs. The graph passes
    ``onnx.checker`` (full check, shapes inferred) before the file is written, atomically.

    Args:
        model: a Module made of layers that have an ONNX form (every layer of
            ``deltaprop.nn``: Linear, the activations, Dropout, BatchNorm1d/2d, LayerNorm,
            Conv2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, GlobalAvgPool2d, Flatten,
            Identity, Embedding, and Sequential, Residual and Checkpointed around them).
        path: the ``.onnx`` file to write.
        example_input: one batch the model takes, (N, ...) with N >= 1: its other axes fix
            the input's shape and the model runs on it once. Floats become the model's float
            dtype; integers (indices for an Embedding first layer) make an int64 input.

    Raises:
        ConfigError: ``model`` is not a Module, or holds a layer without an ONNX form (named
            by its dotted path and class); ``path`` cannot be written (checked before any
            work); onnx is not installed (``pip install deltaprop[onnx]``).
        ShapeError: ``example_input`` is not a batch the model runs on.
        ModelFileError: the write itself failed (an existing file is left as it was).
    """
    if not isinstance(model, Module):
        raise ConfigError(f"model: expected a deltaprop Module, got {type(model).__name__}")
    path = io.check_path(path, "path", writable=True)
    onnx = require("onnx", "onnx", "export_onnx")
    dtype = _float_dtype(model)
    example = _example(example_input, dtype)
    g = Graph(onnx, dtype)
    with model.evaluating(), no_grad():
        try:
            y, out = convert(g, model, INPUT, Tensor(example, dtype=example.dtype), "")
        except ShapeError as exc:
            raise ShapeError(
                f"example_input: the model does not run on a batch of shape {example.shape}: {exc}"
            ) from None
        except DeltapropError as exc:
            if str(exc).startswith("model:"):  # a layer without an ONNX form: already named
                raise
            raise type(exc)(f"example_input: {exc}") from None
    if g.nodes and g.nodes[-1].output[0] == y:
        g.nodes[-1].output[0] = OUTPUT  # the last node writes the graph's output
    else:  # a model that is the identity (an empty Sequential, a Dropout)
        g.nodes.append(onnx.helper.make_node("Identity", [y], [OUTPUT], name=OUTPUT))
    helper = onnx.helper
    graph = helper.make_graph(
        g.nodes,
        "deltaprop",
        [helper.make_tensor_value_info(INPUT, g.elem_type(example.dtype),
                                       [BATCH, *example.shape[1:]])],
        [helper.make_tensor_value_info(OUTPUT, g.elem_type(out.data.dtype),
                                       [BATCH, *out.shape[1:]])],
        initializer=g.initializers,
    )  # fmt: skip
    proto = helper.make_model(
        graph, producer_name="deltaprop", opset_imports=[helper.make_opsetid("", OPSET)]
    )
    onnx.checker.check_model(proto, full_check=True)
    io.atomic_write(path, proto.SerializeToString())
    return proto


def _float_dtype(model: Module) -> np.dtype:
    """The dtype of the model's parameters (float32 unless it was built in float64)."""
    for p in model.parameters():
        return np.dtype(p.data.dtype)
    return np.dtype(default_dtype())


def _example(example_input: Any, dtype: np.dtype) -> np.ndarray:
    """The example batch as a NumPy array: floats in the model's dtype, integers as int64."""
    value = example_input.numpy() if isinstance(example_input, Tensor) else example_input
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"example_input: expected an array, got {type(value).__name__}") from exc
    if array.dtype.kind not in "biuf":
        raise ConfigError(f"example_input: expected numbers, got an array of dtype {array.dtype}")
    if array.ndim < 1 or array.shape[0] < 1:
        raise ShapeError(
            f"example_input: expected a batch (N, ...) with N >= 1 rows, got shape {array.shape}"
        )
    if array.dtype.kind in "biu":
        return array.astype(np.int64)
    if not np.all(np.isfinite(array)):
        raise ConfigError("example_input: expected finite values, got NaN or inf")
    return array.astype(dtype)
