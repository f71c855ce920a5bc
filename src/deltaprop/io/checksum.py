"""The checksums of deltaprop's files: SHA-256, in two schemes told apart by the value's prefix.

- ``"sha256/file:<hex>"`` (:func:`file_checksum`), what :func:`~deltaprop.io.write_tensor_file`
  stores as a file's ``checksum`` since model-file version 2: it covers the whole file, i.e.
  every other header entry (architecture, user metadata, format, version, a training state) and
  every tensor (names, dtypes, shapes, data). Digest input: the compact JSON of the header's
  sorted ``[key, value]`` pairs without ``checksum``, then the tensor digest input below.
- ``"sha256:<hex>"`` (:func:`checksum`) over bytes, a str or named tensors only. As a file's
  ``checksum`` it is what deltaprop 0.1.0 wrote (the tensors covered, the header not); a
  training state's ``state_checksum`` is this scheme over its state JSON.

Tensor digest input: each tensor in name order contributes ``name\\0dtype\\0shape\\0`` (NumPy's
dtype name, the shape as a Python tuple, ``(1,)`` for a 0-D tensor) then its bytes in C order,
little-endian. These are
exactly the bytes of a safetensors file's data section, so a reader can verify a file by
streaming it (:func:`tensor_entry`, :func:`start`, :func:`finish`) before allocating anything.

safetensors itself checks that a header parses, never what it says or the data: a flipped bit
anywhere in a file is caught only by this checksum.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

FILE = "file"  # "sha256/file:": the whole file
TENSORS = "tensors"  # "sha256:": the tensors only (0.1.0's model files)
_PREFIX = {FILE: "sha256/file:", TENSORS: "sha256:"}


def scheme(value: str) -> str | None:
    """:data:`FILE` or :data:`TENSORS` by the prefix of a stored checksum; None if unknown."""
    for name, prefix in _PREFIX.items():
        if value.startswith(prefix):
            return name
    return None


def start(kind: str, header: Mapping[str, str] | None = None) -> Any:
    """A SHA-256 object fed with what precedes the tensors in scheme ``kind`` (for
    :data:`FILE`, the header's canonical JSON: every entry but ``checksum``, sorted)."""
    h = hashlib.sha256()
    if kind == FILE:
        items = sorted((k, v) for k, v in (header or {}).items() if k != "checksum")
        h.update(json.dumps(items, separators=(",", ":")).encode())
    return h


def tensor_entry(name: str, dtype: str, shape: tuple[int, ...]) -> bytes:
    """What precedes a tensor's bytes in the digest input (``dtype``: NumPy's name)."""
    # A 0-D tensor counts as shape (1,): 0.1.0 hashed np.ascontiguousarray(a), which makes
    # 0-D arrays 1-D, and its files must still verify.
    return f"{name}\0{dtype}\0{tuple(shape) or (1,)}\0".encode()


def finish(kind: str, h: Any) -> str:
    """The stored value: the scheme's prefix and ``h``'s hex digest."""
    return _PREFIX[kind] + h.hexdigest()


def _update_tensors(h: Any, tensors: Mapping[str, np.ndarray]) -> None:
    for name in sorted(tensors):
        a = np.asarray(tensors[name])
        h.update(tensor_entry(name, a.dtype.name, a.shape))
        a = np.ascontiguousarray(a)
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)  # copies only on big-endian machines
        # a uint8 view of the array's own buffer: hashing makes no copy of the data
        h.update(a.reshape(-1).view(np.uint8))


def checksum(data: bytes | str | Mapping[str, np.ndarray]) -> str:
    """``"sha256:<hex>"`` of ``data``: bytes as they are, a str as UTF-8, a mapping of name ->
    array (any shapes) by the tensor digest input, which does not depend on memory layout or
    the machine's byte order."""
    h = hashlib.sha256()
    if isinstance(data, str):
        data = data.encode()
    if isinstance(data, bytes):
        h.update(data)
    else:
        _update_tensors(h, data)
    return finish(TENSORS, h)


def file_checksum(header: Mapping[str, str], tensors: Mapping[str, np.ndarray]) -> str:
    """``"sha256/file:<hex>"`` over ``header`` (all entries but ``checksum``) and ``tensors``."""
    h = start(FILE, header)
    _update_tensors(h, tensors)
    return finish(FILE, h)
