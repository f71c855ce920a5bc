"""PyTorch ``state_dict`` files (safetensors) into deltaprop models, and deltaprop models out.

A deltaprop network built like a torch one has the same dotted names: ``nn.Sequential``
numbers its layers the same way, and Conv2d, BatchNorm1d/2d (``weight``, ``bias``,
``running_mean``, ``running_var``, ``num_batches_tracked``), LayerNorm and Embedding store the
same arrays in the same layout. The one difference is Linear's weight, which deltaprop keeps as
(in, out) (``y = x @ W + b``) and PyTorch as (out, in) (``y = x W^T + b``); it is transposed on
the way in and out. So the names of this module describe only that: which tensors are Linear
weights.

Why here and not in ``dp.load``: a torch file has no architecture, only weights; the user
builds the equivalent model in code (or the recipe does) and these functions fill it.

In torch::

    from safetensors.torch import save_file, load_file
    save_file(net.state_dict(), "net.safetensors")          # -> dp.io.load_torch_state
    net.load_state_dict(load_file("from_deltaprop.safetensors"))  # <- dp.io.save_torch_state
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..checks import check_bool
from ..errors import ConfigError, ModelFileError, WeightsMismatchError
from ..nn.linear import Linear
from ..nn.module import IncompatibleKeys, Module
from .files import PathLike
from .tensorfile import read_tensor_file, write_tensor_file

#: The header ``safetensors.torch.save_file`` writes; torch's loaders ignore the rest.
TORCH_FORMAT = "pt"


def linear_weights(model: Module) -> dict[str, tuple[int, int]]:
    """``{"2.weight": (in, out), ...}``: the Linear weights of ``model`` (deltaprop's shape)."""
    out = {}
    for name, module in model.named_modules():
        if isinstance(module, Linear):
            key = f"{name}.weight" if name else "weight"
            out[key] = (module.in_features, module.out_features)
    return out


def to_torch_state(model: Module) -> dict[str, np.ndarray]:
    """``model.state_dict()`` in PyTorch's layout: Linear weights (out, in), the rest as is
    (C-contiguous NumPy copies, in the model's order)."""
    _check_model(model)
    transposed = linear_weights(model)
    return {
        name: np.ascontiguousarray(value.T) if name in transposed else value
        for name, value in model.state_dict().items()
    }


def from_torch_state(
    model: Module, state: Mapping[str, Any], strict: bool = True, where: str = "state"
) -> IncompatibleKeys:
    """Load a PyTorch-layout ``state`` (name -> array) into ``model``; return the
    ``(missing_keys, unexpected_keys)`` (:class:`~deltaprop.nn.IncompatibleKeys`).

    Every tensor is checked before any is written (a failed load changes nothing); values take
    the model's dtypes (a float64 torch net loads into a float32 model).

    Raises:
        WeightsMismatchError: a tensor of another shape (named, with the PyTorch shape
            expected: a Linear's is (out, in)).
        ModelFileError: with ``strict``, names missing from ``state`` or not in the model.
    """
    _check_model(model)
    strict = check_bool(strict, "strict")
    linear = linear_weights(model)
    own = model.state_dict()
    converted: dict[str, Any] = {}
    for name, value in state.items():
        array = np.asarray(value)
        if name in linear:
            n_in, n_out = linear[name]
            if array.shape != (n_out, n_in):
                raise WeightsMismatchError(
                    f"{where}: tensor {name!r}: expected shape {(n_out, n_in)} (PyTorch's "
                    f"(out, in) of a Linear({n_in}, {n_out})), got {array.shape}"
                )
            array = array.T
        elif name in own and array.shape != own[name].shape:
            raise WeightsMismatchError(
                f"{where}: tensor {name!r}: expected shape {own[name].shape}, got {array.shape}"
            )
        converted[name] = array
    missing = [k for k in own if k not in converted]
    unexpected = [k for k in converted if k not in own]
    if strict and (missing or unexpected):
        raise ModelFileError(
            f"{where}: the tensors do not match the model: missing {missing}, unexpected "
            f"{unexpected} (load with strict=False to skip them)"
        )
    return model.load_state_dict(converted, strict=False)


def load_torch_state(model: Module, path: PathLike, strict: bool = True) -> IncompatibleKeys:
    """Fill ``model`` from a safetensors file of a PyTorch ``state_dict`` (``safetensors.
    torch.save_file(net.state_dict(), path)``); see :func:`from_torch_state`.

    Raises:
        ModelFileError: a missing, unreadable or corrupt file, a deltaprop model file (load it
            with ``dp.load``, or ``dp.load_weights`` into a model), or tensors that do not
            match the model (:class:`~deltaprop.errors.WeightsMismatchError` for shapes);
            the model is left as it was.
    """
    _check_model(model)
    file = read_tensor_file(path)
    if file.header.get("format") == "deltaprop":
        raise ModelFileError(
            f"{file.path}: a deltaprop model file, whose Linear weights are (in, out), not a "
            "PyTorch state_dict; load it with dp.load or dp.load_weights"
        )
    return from_torch_state(model, file.tensors, strict=strict, where=file.path)


def save_torch_state(model: Module, path: PathLike) -> None:
    """Write ``model``'s parameters and buffers as a PyTorch ``state_dict`` in a safetensors
    file (:func:`to_torch_state`), atomically; ``safetensors.torch.load_file(path)`` gives a
    dict that the equivalent torch network's ``load_state_dict`` takes.

    Raises:
        ConfigError: ``model`` is not a Module.
        ModelFileError: the file cannot be written (an existing one is left as it was).
    """
    write_tensor_file(path, to_torch_state(model), {"format": TORCH_FORMAT})


def _check_model(model: Any) -> None:
    if not isinstance(model, Module):
        raise ConfigError(f"model: expected a deltaprop Module, got {type(model).__name__}")
