"""Model files: one safetensors file holding the weights and, as metadata, the architecture.

No pickle, ever. The file is a plain safetensors file: its tensors are the model's
``state_dict()`` (dotted names), and its string metadata holds::

    format        "deltaprop"
    version       "1"
    architecture  JSON tree: {"class": "Sequential", "layers": [{"class": "Linear",
                  "config": {...}}, ...]}, from each layer's get_config()
    checksum      "sha256:..." over the tensors (safetensors checks the header, not the data)
    metadata      JSON object of the caller's own values (optional)

:func:`load` rebuilds the model only by looking class names up in ``deltaprop.nn.LAYERS``
(extend it with ``nn.register_layer``). Writes are atomic (:func:`deltaprop.io.atomic_write`),
so a failed save leaves an existing file as it was. Every problem
with a file raises :class:`~deltaprop.errors.ModelFileError` naming the path and the reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..autograd.tensor import Tensor
from ..errors import ConfigError, ModelFileError, ShapeError
from ..nn.module import Module
from .architecture import architecture, build
from .files import PathLike
from .tensorfile import read_tensor_file, write_tensor_file

FORMAT = "deltaprop"
VERSION = "1"


# --- writing ----------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    # NumPy values (a standardizer's mean/std, class labels) are stored as plain JSON.
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Tensor):
        return value.numpy().tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def save(model: Module, path: PathLike, metadata: Mapping[str, Any] | None = None) -> None:
    """Write ``model`` (weights and architecture) to one safetensors file.

    Args:
        model: the Module to save.
        path: the file to write (replaced atomically if it exists).
        metadata: optional JSON-able values of your own (NumPy arrays become lists), e.g.
            ``{"classes": [...], "mean": mean, "std": std, "dataset": "wine"}``; read them back
            with :func:`read_metadata` or ``load(path, return_metadata=True)``.
    """
    if not isinstance(model, Module):
        raise ConfigError(f"model: expected a deltaprop Module, got {type(model).__name__}")
    header = {"format": FORMAT, "version": VERSION}
    header["architecture"] = json.dumps(architecture(model), allow_nan=False)
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            raise ConfigError(f"metadata: expected a dict, got {type(metadata).__name__}")
        try:
            header["metadata"] = json.dumps(dict(metadata), default=_json_default)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"metadata: expected JSON-able values: {e}") from e
    write_tensor_file(path, model.state_dict(), header)


# --- reading ----------------------------------------------------------------------------------


def _check_ours(p: str, meta: dict[str, str]) -> None:
    if meta.get("format") != FORMAT:
        raise ModelFileError(
            f"{p}: not a deltaprop model file (a safetensors file without deltaprop's metadata; "
            "to load bare weights into a model built in code, use load_weights)"
        )
    if meta.get("version") != VERSION:
        raise ModelFileError(
            f"{p}: model file format version {meta.get('version')!r} is not supported; this "
            f"deltaprop reads version {VERSION!r}"
        )


def _user_metadata(p: str, meta: dict[str, str]) -> dict[str, Any]:
    try:
        value = json.loads(meta.get("metadata", "{}"))
    except ValueError as e:
        raise ModelFileError(f"{p}: corrupt file: the user metadata is not valid JSON ({e})") from e
    if not isinstance(value, dict):
        raise ModelFileError(f"{p}: corrupt file: the user metadata is not a JSON object")
    return value


def _load_state(p: str, model: Module, arrays: dict[str, Any], what: str) -> None:
    try:
        model.load_state_dict(arrays, strict=True)
    except (ConfigError, ShapeError) as e:
        raise ModelFileError(f"{p}: the weights in the file do not match {what}: {e}") from e


def load(path: PathLike, return_metadata: bool = False):
    """Rebuild the model saved by :func:`save`, in eval mode (call ``.train()`` to train on).

    Returns the model, or ``(model, metadata)`` with ``return_metadata=True``. Raises
    ModelFileError for a missing, truncated, corrupt or foreign file, an architecture naming
    a class that is not in ``nn.LAYERS``, or weights that do not fit the architecture.
    """
    p, meta, arrays = read_tensor_file(path)
    _check_ours(p, meta)
    try:
        tree = json.loads(meta.get("architecture", ""))
    except ValueError as e:
        raise ModelFileError(f"{p}: corrupt file: the architecture is not valid JSON ({e})") from e
    try:
        model = build(tree)
    except ConfigError as e:
        raise ModelFileError(f"{p}: cannot rebuild the model: {e}") from e
    _load_state(p, model, arrays, "the saved architecture")
    model.eval()
    if return_metadata:
        return model, _user_metadata(p, meta)
    return model


def load_weights(model: Module, path: PathLike) -> Module:
    """Copy the weights of a safetensors file into ``model`` (built in code) and return it.

    Names and shapes must match exactly; on any mismatch the model is left unchanged. Any
    safetensors file with matching tensor names works, not only deltaprop's.
    """
    if not isinstance(model, Module):
        raise ConfigError(f"model: expected a deltaprop Module, got {type(model).__name__}")
    p, _, arrays = read_tensor_file(path)
    _load_state(p, model, arrays, "this model")
    return model


def read_metadata(path: PathLike) -> dict[str, Any]:
    """The ``metadata`` dict given to :func:`save` ({} when none), without loading weights."""
    p, meta, _ = read_tensor_file(path, tensors=False)
    _check_ours(p, meta)
    return _user_metadata(p, meta)
