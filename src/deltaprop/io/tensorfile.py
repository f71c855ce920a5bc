"""The container of every deltaprop file: a safetensors file (named arrays plus a string
header), written atomically with a checksum of its tensors, read back with that checksum
verified. Model files (:mod:`.model_file`) and training states (``deltaprop.train.state``) are
both this container with their own header keys; no pickle, ever.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import safetensors.numpy
from safetensors import safe_open

from ..errors import ModelFileError
from .checksum import checksum
from .files import PathLike, atomic_write


def write_tensor_file(
    path: PathLike, tensors: Mapping[str, np.ndarray], header: Mapping[str, str]
) -> None:
    """Write ``tensors`` (name -> array) with the string ``header`` to ``path`` atomically,
    adding ``header["checksum"]`` (:func:`~deltaprop.io.checksum.checksum` of the tensors)."""
    # ascontiguousarray makes 0-D arrays 1-D; reshape keeps a 0-D buffer (a step counter) 0-D.
    arrays = {k: np.ascontiguousarray(v).reshape(np.shape(v)) for k, v in tensors.items()}
    meta = dict(header)
    meta["checksum"] = checksum(arrays)
    atomic_write(path, safetensors.numpy.save(arrays, metadata=meta))


def read_tensor_file(
    path: PathLike, tensors: bool = True
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """``(path as str, header, tensors)`` of a safetensors file; with ``tensors=False`` only the
    header is read (and the tensors dict is empty).

    Raises ModelFileError naming the path: missing, a folder, unreadable, not safetensors
    (truncated or corrupt), or tensors that do not match the header's ``checksum``. A file
    without a checksum (any other program's safetensors file) is read as it is.
    """
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
    if tensors and "checksum" in meta and meta["checksum"] != checksum(arrays):
        raise ModelFileError(f"{p}: corrupt file: the tensor data does not match its checksum")
    return p, meta, arrays
