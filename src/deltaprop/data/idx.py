"""MNIST-style IDX files, optionally gzip-compressed, read with their sizes checked first.

The header (type code and dimensions) is read on its own; the data is read only once the
dimensions' product times the item size is known to fit the file, so a damaged header (or a
small .gz that would inflate to gigabytes) is a :class:`~deltaprop.errors.DataError` before
anything large is allocated.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path
from typing import IO

import numpy as np

from ..errors import DataError
from ..io.files import check_regular_file, read_bounded

# IDX type codes (http://yann.lecun.com/exdb/mnist/): data is big-endian.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
#: Deflate encodes at most 258 bytes in 2 bits: no gzip file inflates more than 1032-fold.
_DEFLATE_RATIO = 1032


def load_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST format), optionally gzip-compressed.

    Layout: two zero bytes, a type code (0x08 ubyte, 0x09 byte, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64), the number of dimensions, one big-endian uint32 per dimension,
    then the data in big-endian C order.

    Returns:
        an ndarray with the file's shape, e.g. uint8 (60000, 28, 28) for MNIST training images.

    Raises:
        DataError naming the file: not a regular file, not IDX, damaged gzip, or data whose
        size is not what the header's dimensions need (checked before the data is read).
    """
    path = Path(check_regular_file(path, "data file", error=DataError))
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as raw:
            gz = raw.read(2) == b"\x1f\x8b"  # gzip magic; decide by content, not by file name
            raw.seek(0)
            f: IO[bytes] = gzip.GzipFile(fileobj=raw) if gz else raw  # type: ignore[assignment]
            # Uncompressed, the file size is exact; compressed, deflate's ratio bounds it.
            most = _DEFLATE_RATIO * size + 1024 if gz else size
            return _read(f, path, most, exact=not gz)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read the IDX file ({exc})") from exc


def _read(f: IO[bytes], path: Path, most: int, exact: bool) -> np.ndarray:
    magic = f.read(4)
    if len(magic) < 4 or magic[:2] != b"\x00\x00" or magic[2] not in _IDX_DTYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number {magic.hex() or 'empty'})")
    dtype, ndim = np.dtype(_IDX_DTYPES[magic[2]]), magic[3]
    dims = f.read(4 * ndim)
    header = 4 + 4 * ndim
    if len(dims) < 4 * ndim:
        raise DataError(
            f"{path}: truncated IDX header: expected {header} bytes, got {4 + len(dims)}"
        )
    shape = tuple(int(d) for d in np.frombuffer(dims, ">u4", count=ndim))
    size = math.prod(shape) * dtype.itemsize
    if size > most - header or (exact and size != most - header):
        have = most - header if exact else f"at most {most - header}"
        raise DataError(f"{path}: IDX data of shape {shape} needs {size} bytes, got {have}")
    buf, got, more = read_bounded(f, size)  # size is bounded by the file's (or deflate's ratio)
    if got != size or more:
        extra = " and more" if more else ""
        raise DataError(f"{path}: IDX data of shape {shape} needs {size} bytes, got {got}{extra}")
    data = np.frombuffer(buf, dtype).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=False)  # native byte order
