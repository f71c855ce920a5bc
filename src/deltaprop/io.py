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
(extend it with ``nn.register_layer``). Writes are atomic: a temporary file in the same folder,
fsync, then ``os.replace``, so a failed save leaves an existing file as it was. Every problem
with a file raises :class:`~deltaprop.errors.ModelFileError` naming the path and the reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Mapping
from typing import Any

import numpy as np
import safetensors.numpy
from safetensors import safe_open

from . import nn
from .autograd.tensor import Tensor
from .errors import ConfigError, ModelFileError, ShapeError
from .nn.module import Module, Sequential

FORMAT = "deltaprop"
VERSION = "1"

PathLike = str | os.PathLike


# --- architecture as JSON ---------------------------------------------------------------------


def architecture(model: Module) -> dict[str, Any]:
    """The JSON tree that :func:`build` turns back into ``model``'s structure.

    A Sequential lists its layers; any other layer gives its registered class name and its
    ``get_config()``. A layer instance that appears twice becomes ``{"ref": "<dotted path>"}``,
    so shared layers stay shared. A class missing from ``nn.LAYERS`` (or a config that is not
    JSON) is still described, marked ``"registered": false``; :func:`load` then explains how to
    load such a file.
    """
    seen: dict[int, str] = {}

    def describe(module: Module, path: str) -> dict[str, Any]:
        if id(module) in seen:
            return {"ref": seen[id(module)]}
        seen[id(module)] = path
        cls = type(module)
        name = nn.layer_name(cls)
        if cls is Sequential:
            return {
                "class": "Sequential",
                "layers": [
                    describe(layer, f"{path}.{i}" if path else str(i))
                    for i, layer in enumerate(module)
                ],
            }
        try:
            config = module.get_config()
            json.dumps(config, allow_nan=False)
        except Exception:  # a config we cannot store: load() will say so
            config = None
        node: dict[str, Any] = {"class": name or cls.__qualname__, "config": config}
        if name is None or config is None:
            node["registered"] = False
        return node

    return describe(model, "")


def build(tree: Any) -> Module:
    """Rebuild a Module from an :func:`architecture` tree (classes from ``nn.LAYERS`` only).

    Raises ConfigError for a tree that is malformed or names a class that is not registered.
    """
    built: dict[str, Module] = {}

    def make(node: Any, path: str) -> Module:
        where = f"layer {path!r}" if path else "the model"
        if not isinstance(node, dict):
            raise ConfigError(f"{where}: expected an object, got {type(node).__name__}")
        if "ref" in node:
            ref = node["ref"]
            if ref not in built:
                raise ConfigError(f"{where}: refers to {ref!r}, which is not built before it")
            return built[ref]
        name = node.get("class")
        if not isinstance(name, str):
            raise ConfigError(f"{where}: expected a 'class' name, got {name!r}")
        cls = nn.LAYERS.get(name)
        if cls is None or node.get("registered", True) is False:
            raise ConfigError(
                f"{where} is a {name!r}, which is not a registered layer class; register it "
                f"with deltaprop.nn.register_layer({name}) before loading, or build the model "
                "in code and call deltaprop.load_weights(model, path)"
            )
        if cls is Sequential:
            layers = node.get("layers")
            if not isinstance(layers, list):
                raise ConfigError(f"{where}: a Sequential needs a 'layers' list")
            module: Module = Sequential(
                *[make(child, f"{path}.{i}" if path else str(i)) for i, child in enumerate(layers)]
            )
        else:
            config = node.get("config", {})
            if not isinstance(config, dict):
                raise ConfigError(f"{where}: expected a 'config' object, got {config!r}")
            try:
                module = cls(**config)
            except Exception as e:
                raise ConfigError(f"{where}: cannot build {name} from {config}: {e}") from e
        built[path] = module
        return module

    return make(tree, "")


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


def _checksum(tensors: Mapping[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        h.update(f"{name}\0{a.dtype.name}\0{a.shape}\0".encode())
        h.update(a.tobytes())
    return "sha256:" + h.hexdigest()


def atomic_write(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` all at once or not at all: a temporary file in the same
    folder, flushed and fsynced, then renamed over ``path`` (``os.replace`` is atomic)."""
    p = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(p))
    if os.path.isdir(p):
        raise ModelFileError(f"{p}: is a folder, not a file")
    if not os.path.isdir(folder):
        raise ModelFileError(f"{p}: cannot write, the folder {folder} does not exist")
    tmp = os.path.join(folder, f".{os.path.basename(p)}.{secrets.token_hex(6)}.tmp")
    try:
        # O_EXCL: never clobber another file; mode 0o666 lets the umask decide, as open() does.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise ModelFileError(f"{p}: could not write the file: {e}") from e
        raise
    try:  # make the rename itself durable (POSIX); not possible everywhere
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


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
    # ascontiguousarray makes 0-D arrays 1-D; reshape keeps a 0-D buffer (a step counter) 0-D.
    tensors = {k: np.ascontiguousarray(v).reshape(v.shape) for k, v in model.state_dict().items()}
    header["checksum"] = _checksum(tensors)
    blob = safetensors.numpy.save(tensors, metadata=header)
    atomic_write(path, blob)


# --- reading ----------------------------------------------------------------------------------


def _read(path: PathLike, tensors: bool = True) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(path as str, metadata, tensors) of a safetensors file, any problem a ModelFileError."""
    p = os.fspath(path)
    if not os.path.exists(p):
        raise ModelFileError(f"{p}: no such file")
    if os.path.isdir(p):
        raise ModelFileError(f"{p}: is a folder, not a model file")
    try:
        with safe_open(p, framework="np") as f:
            meta = dict(f.metadata() or {})
            arrays = {k: f.get_tensor(k) for k in f.keys()} if tensors else {}
    except OSError as e:
        raise ModelFileError(f"{p}: could not read the file: {e}") from e
    except Exception as e:  # safetensors' own errors: bad header, wrong length, bad dtype...
        raise ModelFileError(
            f"{p}: not a valid safetensors file (truncated or corrupt?): {e}"
        ) from e
    if tensors and "checksum" in meta and meta["checksum"] != _checksum(arrays):
        raise ModelFileError(f"{p}: corrupt file: the tensor data does not match its checksum")
    return p, meta, arrays


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
    p, meta, arrays = _read(path)
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
    p, _, arrays = _read(path)
    _load_state(p, model, arrays, "this model")
    return model


def read_metadata(path: PathLike) -> dict[str, Any]:
    """The ``metadata`` dict given to :func:`save` ({} when none), without loading weights."""
    p, meta, _ = _read(path, tensors=False)
    _check_ours(p, meta)
    return _user_metadata(p, meta)
