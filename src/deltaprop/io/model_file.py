"""Model files: one safetensors file holding the weights and, as metadata, the architecture.

No pickle, ever. The file is a plain safetensors file (:mod:`.tensorfile`): its tensors are the
model's ``state_dict()`` (parameters and buffers, dotted names), and its string metadata holds::

    format        "deltaprop"
    version       "2"
    architecture  JSON tree: {"class": "Sequential", "layers": [{"class": "Linear",
                  "config": {...}}, ...]}, from each layer's get_config()
    metadata      JSON object of the caller's own values (optional)
    checksum      "sha256/file:..." over every other header entry and every tensor
                  (:mod:`.checksum`): any change to the file is an error, never another model

Version "2" files must carry that whole-file checksum. Version "1" files (deltaprop 0.1.0)
still load: their ``checksum`` ("sha256:...") covers only the tensors and is required and
verified; a warning says that their header is unprotected (re-save them with :func:`save`).

:func:`load` rebuilds the model only by looking class names up in ``deltaprop.nn.LAYERS``
(extend it with ``nn.register_layer``). :func:`save` refuses a model holding NaN or inf (unless
``allow_nonfinite=True``) and anything it could not read back (JSON nested or sized beyond
:func:`~deltaprop.io.codec.parse_json`'s bounds). Writes are atomic
(:func:`deltaprop.io.atomic_write`), so a failed save leaves an existing file as it was. Every
problem with a file raises :class:`~deltaprop.errors.ModelFileError` naming the path and the
reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import report
from ..autograd.tensor import Tensor
from ..checks import check_bool
from ..errors import ConfigError, ModelFileError, ShapeError
from ..nn.module import Module
from .architecture import architecture, build
from .checksum import FILE, TENSORS
from .codec import json_problem, parse_json
from .files import PathLike
from .tensorfile import TensorFile, read_tensor_file, write_tensor_file

FORMAT = "deltaprop"
VERSION = "2"
READABLE = ("1", "2")  # "1": deltaprop 0.1.0, its checksum covers the tensors only


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


def _check_finite(model: Module, state: Mapping[str, np.ndarray]) -> None:
    """ConfigError naming the first parameter or buffer (in ``state`` order) holding NaN/inf."""
    parameters = {name for name, _ in model.named_parameters()}
    for name, value in state.items():
        if value.dtype.kind not in "fc":
            continue
        bad = int(value.size - np.count_nonzero(np.isfinite(value)))
        if bad:
            kind = "parameter" if name in parameters else "buffer"
            raise ConfigError(
                f"model: the {kind} {name!r} holds {bad} non-finite value(s) (NaN or inf) of "
                f"{value.size}; nothing was saved (a model that predicts garbage should not "
                "replace a good file; pass allow_nonfinite=True to save it anyway)"
            )


def _checked_json(text: str, name: str) -> str:
    problem = json_problem(text)
    if problem:  # load() could not read it back
        raise ConfigError(f"{name}: as JSON it {problem}; a model file cannot hold it")
    return text


def save(
    model: Module,
    path: PathLike,
    metadata: Mapping[str, Any] | None = None,
    *,
    allow_nonfinite: bool = False,
) -> None:
    """Write ``model`` (weights, buffers and architecture) to one safetensors file.

    Args:
        model: the Module to save.
        path: the file to write (replaced atomically if it exists).
        metadata: optional JSON-able values of your own (NumPy arrays become lists), e.g.
            ``{"classes": [...], "mean": mean, "std": std, "dataset": "wine"}``; read them back
            with :func:`read_metadata` or ``load(path, return_metadata=True)``.
        allow_nonfinite: write a model holding NaN or inf all the same (to debug it).

    Raises:
        ConfigError: a bad argument, nothing written: ``model`` is not a Module, holds NaN or
            inf in a parameter or buffer (without ``allow_nonfinite``), or is nested too deeply
            to be read back; ``metadata`` is not a dict of JSON-able values.
        ModelFileError: the file cannot be written (an existing file is left as it was).
    """
    if not isinstance(model, Module):
        raise ConfigError(f"model: expected a deltaprop Module, got {type(model).__name__}")
    check_bool(allow_nonfinite, "allow_nonfinite")
    state = model.state_dict()
    # ConfigError, not ModelFileError: the argument is wrong, not a file (nothing is written),
    # and ModelFileError is an OSError, which callers treat as a disk problem worth retrying.
    if not allow_nonfinite:
        _check_finite(model, state)
    header = {"format": FORMAT, "version": VERSION}
    arch = json.dumps(architecture(model), allow_nan=False)
    header["architecture"] = _checked_json(arch, "model")
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            raise ConfigError(f"metadata: expected a dict, got {type(metadata).__name__}")
        try:
            text = json.dumps(dict(metadata), default=_json_default)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"metadata: expected JSON-able values: {e}") from e
        header["metadata"] = _checked_json(text, "metadata")
    write_tensor_file(path, state, header)


# --- reading ----------------------------------------------------------------------------------


def _check_checksum(file: TensorFile) -> None:
    """ModelFileError unless the file carries the checksum its version requires (the reader
    verified it); a version-1 file's unprotected header gets a warning."""
    p, meta, _ = file
    version = meta.get("version")
    if file.scheme is None:
        raise ModelFileError(f"{p}: corrupt file: the checksum is missing")
    if version == VERSION and file.scheme != FILE:
        raise ModelFileError(
            f"{p}: corrupt file: a version-{VERSION} model file has a checksum of the whole "
            "file, this one covers only the tensors"
        )
    if version == "1" and file.scheme == TENSORS:
        # a warning, not a note: notes go to stdout, where `deltaprop predict` writes its rows
        report.warn(
            f"{p}: a model file from deltaprop 0.1.0: its tensors are checked, but its header "
            "(architecture, metadata) is not protected by a checksum; re-save it with dp.save "
            "to protect it",
            stacklevel=4,
        )


def _check_ours(file: TensorFile) -> None:
    p, meta, _ = file
    if meta.get("format") != FORMAT:
        raise ModelFileError(
            f"{p}: not a deltaprop model file (a safetensors file without deltaprop's metadata; "
            "to load bare weights into a model built in code, use load_weights)"
        )
    if meta.get("version") not in READABLE:
        raise ModelFileError(
            f"{p}: model file format version {meta.get('version')!r} is not supported; this "
            f"deltaprop reads versions {', '.join(map(repr, READABLE))}"
        )
    _check_checksum(file)


def _parse(p: str, meta: dict[str, str], key: str, what: str, default: str) -> Any:
    try:
        return parse_json(meta.get(key, default), what)
    except ModelFileError as e:
        raise ModelFileError(f"{p}: corrupt file: {e}") from e


def _user_metadata(p: str, meta: dict[str, str]) -> dict[str, Any]:
    value = _parse(p, meta, "metadata", "the user metadata", "{}")
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
    ModelFileError for a missing, non-regular, truncated, corrupt (any byte that differs from
    what was saved) or foreign file, an architecture naming a class that is not in
    ``nn.LAYERS``, or weights that do not fit the architecture.
    """
    file = read_tensor_file(path)
    p, meta, arrays = file
    _check_ours(file)
    tree = _parse(p, meta, "architecture", "the architecture", "")
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
    safetensors file with matching tensor names works, not only deltaprop's; a file with a
    checksum is verified (and a deltaprop model file must have its checksum).
    """
    if not isinstance(model, Module):
        raise ConfigError(f"model: expected a deltaprop Module, got {type(model).__name__}")
    file = read_tensor_file(path)
    p, meta, arrays = file
    if meta.get("format") == FORMAT and meta.get("version") in READABLE and file.scheme is None:
        raise ModelFileError(f"{p}: corrupt file: the checksum is missing")
    _load_state(p, model, arrays, "this model")
    return model


def read_metadata(path: PathLike) -> dict[str, Any]:
    """The ``metadata`` dict given to :func:`save` ({} when none), without loading the weights
    (the whole file is verified all the same: a changed byte is an error, as for :func:`load`).
    """
    file = read_tensor_file(path, tensors=False)
    _check_ours(file)
    return _user_metadata(file.path, file.header)
