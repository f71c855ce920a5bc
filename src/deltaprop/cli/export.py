"""``deltaprop export MODEL --format onnx --out FILE``: a saved model as an ONNX graph
(:func:`deltaprop.export_onnx`); prints what the graph takes and gives."""

from __future__ import annotations

import argparse

import numpy as np

from .. import io, nn
from ..errors import ConfigError, DeltapropError
from ..onnx import export_onnx
from ..recipe.outputs import check_distinct
from ..recipe.validate import parse_hidden
from .options import check_writable

FORMATS = ("onnx",)


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "export",
        help="write a saved model as an ONNX graph, for onnxruntime and other runtimes",
        description="Write a model saved by deltaprop (.safetensors) as an ONNX file (opset "
        "17, inference form: dropout off, batch norm's running statistics; any batch size). "
        "The graph takes the model's inputs, i.e. the features after the scaling that "
        "`deltaprop train` saved with the model, and gives its outputs (logits for a "
        "classifier). Needs deltaprop[onnx].",
    )
    parser.add_argument("model", help="a .safetensors file written by deltaprop")
    parser.add_argument("--format", default="onnx", choices=FORMATS, help="the file format")
    parser.add_argument("--out", required=True, help="the file to write, e.g. model.onnx")
    parser.add_argument(
        "--input-shape",
        default=None,
        metavar="SHAPE",
        help="one input row's shape, comma separated (64 for rows of 64 features, 1,8,8 for "
        "images); default: from the model file (the training data's shape) or its first "
        "Linear layer",
    )
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> None:
    check_writable(args.out, "--out")  # before the model is read: a bad --out is known now
    check_distinct({"--out": args.out}, {"model": args.model})
    model, meta = io.load(args.model, return_metadata=True)
    shape = input_shape(model, meta, args.input_shape)
    indices = _first_layer(model).__class__ is nn.Embedding
    rng = np.random.default_rng(0)  # the example only fixes shapes; the model runs on it once
    example = np.zeros((2, *shape), np.int64) if indices else rng.standard_normal((2, *shape))
    try:
        proto = export_onnx(model, args.out, example)
    except DeltapropError as exc:  # name the option the user typed
        message = str(exc)
        for prefix, option in (("path: ", "--out: "), ("example_input: ", "--input-shape: ")):
            if message.startswith(prefix):
                message = option + message.removeprefix(prefix)
        raise type(exc)(message) from None
    out_dims = proto.graph.output[0].type.tensor_type.shape.dim
    out_shape = ",".join(d.dim_param or str(d.dim_value) for d in out_dims)
    print(
        f"wrote {args.out}: input 'input' (batch,{','.join(map(str, shape))}) -> output "
        f"'output' ({out_shape}); opset {proto.opset_import[0].version}"
    )


def input_shape(model: nn.Module, meta: dict, given: str | None) -> tuple[int, ...]:
    """One row's shape: ``--input-shape``, else the saved training data's (an image shape,
    or the number of features), else the first layer's input width (a Linear's
    ``in_features``); ConfigError naming ``--input-shape`` when none of them says."""
    if given is not None:
        return parse_hidden(given, "--input-shape") or _no_shape(given)
    info = meta.get("deltaprop_cli") if isinstance(meta, dict) else None
    if isinstance(info, dict) and isinstance(info.get("image_shape"), list):
        return tuple(int(s) for s in info["image_shape"])
    first = _first_layer(model)
    if isinstance(first, nn.Linear):
        return (first.in_features,)
    raise ConfigError(
        f"--input-shape: needed for this model: its first layer is a {type(first).__name__}, "
        "whose input shape the file does not say (e.g. --input-shape 1,28,28 for images)"
    )


def _no_shape(given: str) -> tuple[int, ...]:
    raise ConfigError(
        f"--input-shape: expected one or more widths such as 64 or 1,8,8, got {given!r}"
    )


def _first_layer(model: nn.Module) -> nn.Module:
    """The first layer that computes something (Sequentials and Residuals stepped into)."""
    while True:
        if isinstance(model, nn.Sequential) and len(model):
            model = model[0]
        elif isinstance(model, nn.Residual):
            model = model.block
        else:
            return model
