"""The one checksum of deltaprop's files: ``"sha256:<hex>"`` over bytes, text or named tensors.

safetensors checks a file's header but not its data, so model files and training states store
a checksum of their tensors (and a training state one of its JSON state too) and verify it on
reading: a flipped bit anywhere is then an error, not a silently different model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np


def checksum(data: bytes | str | Mapping[str, np.ndarray]) -> str:
    """``"sha256:<hex>"`` of ``data``.

    Bytes are hashed as they are, a str as UTF-8. For a mapping of name -> array (any shapes),
    each tensor in name order contributes ``name\\0dtype\\0shape\\0`` then its bytes in C order,
    little-endian, so the value does not depend on memory layout or the machine's byte order.
    """
    h = hashlib.sha256()
    if isinstance(data, str):
        data = data.encode()
    if isinstance(data, bytes):
        h.update(data)
        return "sha256:" + h.hexdigest()
    for name in sorted(data):
        a = np.ascontiguousarray(data[name])
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        h.update(f"{name}\0{a.dtype.name}\0{a.shape}\0".encode())
        h.update(a.tobytes())
    return "sha256:" + h.hexdigest()
