"""The container of every deltaprop file: a safetensors file (named arrays plus a string
header), written atomically with a checksum of the whole file, read back with bounded memory
and that checksum verified before any tensor is allocated. Model files (:mod:`.model_file`)
and training states (``deltaprop.train.state``) are both this container with their own header
keys; no pickle, ever.

The layout (safetensors'): 8 bytes, the header's length ``n`` (little-endian); ``n`` bytes of
JSON, ``{"__metadata__": {str: str}, "<name>": {"dtype": "F32", "shape": [...],
"data_offsets": [begin, end]}, ...}``; then the data, each tensor's bytes at its offsets, the
tensors covering it exactly. :func:`write_tensor_file` stores ``checksum`` =
``"sha256/file:..."`` in the metadata (:mod:`.checksum`; deltaprop 0.1.0 stored
``"sha256:..."`` over the tensors only).

:func:`read_tensor_file` reads this layout itself, on one open file, in three steps:

1. the header: its length checked against the file's size and :data:`MAX_HEADER_BYTES`, its
   JSON bounded (:func:`~deltaprop.io.codec.parse_json`), every tensor's dtype, shape and byte
   range checked against the real size of the data;
2. the checksum, if the file has one, by streaming the data through SHA-256 in small chunks
   (a corrupt file whose header claims a huge tensor is refused with ~1 MiB of memory);
3. the tensors, each read straight into its own array (the data is held once).

A non-regular file (a FIFO, a device, a folder) is refused before it is opened for reading.
"""

from __future__ import annotations

import math
import os
import stat
import struct
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import safetensors.numpy

from ..errors import ModelFileError
from .checksum import FILE, file_checksum, tensor_entry
from .checksum import finish as finish_digest
from .checksum import scheme as checksum_scheme
from .checksum import start as start_digest
from .codec import parse_json
from .files import PathLike, atomic_write, check_regular_file

# safetensors' own limit on the header: a file it reads, deltaprop reads too.
MAX_HEADER_BYTES = 100_000_000
_CHUNK = 1 << 20  # bytes hashed at a time
# safetensors' dtype codes that NumPy holds, and NumPy's names for them.
DTYPES = {
    "BOOL": "bool", "U8": "uint8", "I8": "int8", "U16": "uint16", "I16": "int16",
    "F16": "float16", "U32": "uint32", "I32": "int32", "F32": "float32", "U64": "uint64",
    "I64": "int64", "F64": "float64",
}  # fmt: skip


class _Entry(NamedTuple):
    dtype: str  # NumPy's name
    shape: tuple[int, ...]
    begin: int  # byte offsets into the data section
    end: int


class TensorFile(tuple):
    """What :func:`read_tensor_file` returns: unpacks as ``(path, header, tensors)``, and
    :attr:`scheme` says which checksum was verified: ``"file"`` (the whole file),
    ``"tensors"`` (the tensors only, deltaprop 0.1.0) or None (the file has none). Callers
    decide which scheme they require."""

    scheme: str | None

    def __new__(
        cls, path: str, header: dict[str, str], tensors: dict[str, Any], scheme: str | None
    ) -> TensorFile:
        self = super().__new__(cls, (path, header, tensors))
        self.scheme = scheme
        return self

    @property
    def path(self) -> str:
        return self[0]

    @property
    def header(self) -> dict[str, str]:
        return self[1]

    @property
    def tensors(self) -> dict[str, Any]:
        return self[2]


def write_tensor_file(
    path: PathLike, tensors: Mapping[str, np.ndarray], header: Mapping[str, str]
) -> None:
    """Write ``tensors`` (name -> array) with the string ``header`` to ``path`` atomically,
    adding ``header["checksum"]`` (:func:`~deltaprop.io.checksum.file_checksum`: the header's
    other entries and the tensors)."""
    # ascontiguousarray makes 0-D arrays 1-D; reshape keeps a 0-D buffer (a step counter) 0-D.
    arrays = {k: np.ascontiguousarray(v).reshape(np.shape(v)) for k, v in tensors.items()}
    meta = {k: v for k, v in header.items() if k != "checksum"}
    meta["checksum"] = file_checksum(meta, arrays)
    atomic_write(path, safetensors.numpy.save(arrays, metadata=meta))


def read_tensor_file(path: PathLike, tensors: bool = True) -> TensorFile:
    """``(path as str, header, tensors)`` of a safetensors file (a :class:`TensorFile`, whose
    ``scheme`` names the checksum verified); with ``tensors=False`` the tensors dict is empty,
    but the checksum is verified all the same.

    Raises ModelFileError naming the path: missing, a folder or another non-regular file,
    unreadable, not safetensors (truncated or corrupt: any size or offset that does not fit
    the file), a checksum of unknown scheme, or a file that does not match its checksum. A
    file without a checksum (any other program's safetensors file) is read as it is.
    """
    p = check_regular_file(path, "model file")
    try:
        # O_NONBLOCK: should the path become a FIFO after the check, opening does not block
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ModelFileError(f"{p}: is not a regular file; expected a model file")
            data_start, meta, table = _read_header(p, f, info.st_size)
            kind = _verify(p, f, data_start, meta, table)
            arrays = _read_tensors(p, f, data_start, table) if tensors else {}
    except ModelFileError:
        raise
    except OSError as e:
        raise ModelFileError(f"{p}: could not read the file: {e}") from e
    return TensorFile(p, meta, arrays, kind)


def _corrupt(p: str, detail: str) -> ModelFileError:
    return ModelFileError(f"{p}: not a valid safetensors file (truncated or corrupt?): {detail}")


def _read_exactly(p: str, f: Any, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise _corrupt(p, f"the file ends {n - len(data)} bytes early")
    return data


def _read_header(p: str, f: Any, size: int) -> tuple[int, dict[str, str], dict[str, _Entry]]:
    """(where the data starts, the metadata, name -> entry), every entry checked against the
    file's ``size``; nothing is allocated from what the file claims before it is checked."""
    if size < 8:
        raise _corrupt(p, f"{size} bytes, fewer than the 8 of the header length")
    (n,) = struct.unpack("<Q", _read_exactly(p, f, 8))
    if n > size - 8:
        raise _corrupt(p, f"the header claims {n} bytes, the file holds {size - 8} after it")
    if n > MAX_HEADER_BYTES:
        raise _corrupt(p, f"the header claims {n} bytes, more than the {MAX_HEADER_BYTES} allowed")
    try:
        text = _read_exactly(p, f, n).decode("utf-8")
        # a safetensors header nests 3 levels: {name: {"shape": [...]}}
        header = parse_json(text, "the header", max_depth=3, max_chars=MAX_HEADER_BYTES)
    except UnicodeDecodeError as e:
        raise _corrupt(p, f"the header is not UTF-8 text ({e})") from e
    except ModelFileError as e:
        raise _corrupt(p, str(e)) from e
    if not isinstance(header, dict):
        raise _corrupt(p, "the header is not a JSON object")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise _corrupt(p, "the header's __metadata__ is not an object of strings")
    data_size = size - 8 - n
    table = {name: _entry(p, name, value, data_size) for name, value in header.items()}
    covered = 0  # safetensors' rule: the tensors, in offset order, cover the data exactly
    for e in sorted(table.values(), key=lambda e: (e.begin, e.end)):
        if e.begin != covered:
            raise _corrupt(p, f"the tensors leave bytes {covered}..{e.begin} of the data unused")
        covered = e.end
    if covered != data_size:
        raise _corrupt(p, f"the tensors cover {covered} bytes of the {data_size} of data")
    return 8 + n, meta, table


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _entry(p: str, name: str, value: Any, data_size: int) -> _Entry:
    """The header entry of tensor ``name``, checked: a dtype NumPy holds, a shape, and a byte
    range inside the data whose length is the dtype's size times the number of elements."""
    if not isinstance(value, dict):
        raise _corrupt(p, f"tensor {name!r}: its entry is not an object")
    code, shape, offsets = value.get("dtype"), value.get("shape"), value.get("data_offsets")
    if code not in DTYPES:
        raise _corrupt(p, f"tensor {name!r}: dtype {code!r} is not one of {sorted(DTYPES)}")
    if not isinstance(shape, list) or not all(_is_int(d) for d in shape):
        raise _corrupt(p, f"tensor {name!r}: shape {shape!r} is not a list of sizes")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_int, offsets))):
        raise _corrupt(p, f"tensor {name!r}: data_offsets {offsets!r} is not [begin, end]")
    begin, end = offsets
    if not begin <= end <= data_size:
        raise _corrupt(
            p, f"tensor {name!r}: bytes {begin}..{end}, outside the {data_size} bytes of data"
        )
    dtype = DTYPES[code]
    nbytes = np.dtype(dtype).itemsize * math.prod(shape)
    if nbytes != end - begin:
        raise _corrupt(
            p, f"tensor {name!r}: {dtype} {tuple(shape)} is {nbytes} bytes, its range {end - begin}"
        )
    return _Entry(dtype, tuple(shape), begin, end)


def _verify(
    p: str, f: Any, start: int, meta: dict[str, str], table: dict[str, _Entry]
) -> str | None:
    """The scheme of the file's checksum, verified by streaming the data (None: no checksum)."""
    stored = meta.get("checksum")
    if stored is None:
        return None
    kind = checksum_scheme(stored)
    if kind is None:
        raise ModelFileError(f"{p}: corrupt file: unknown checksum scheme in {stored[:40]!r}")
    h = start_digest(kind, meta)
    buffer = memoryview(bytearray(min(_CHUNK, max((e.end - e.begin for e in table.values()),
                                                  default=0))))  # fmt: skip
    for name in sorted(table):
        e = table[name]
        h.update(tensor_entry(name, e.dtype, e.shape))
        f.seek(start + e.begin)
        left = e.end - e.begin
        while left:
            got = f.readinto(buffer[: min(left, len(buffer))])
            if not got:
                raise _corrupt(p, "the file ended while it was read (changed meanwhile?)")
            h.update(buffer[:got])
            left -= got
    if finish_digest(kind, h) != stored:
        what = "the file" if kind == FILE else "the tensor data"
        raise ModelFileError(f"{p}: corrupt file: {what} does not match its checksum")
    return kind


def _read_tensors(p: str, f: Any, start: int, table: dict[str, _Entry]) -> dict[str, np.ndarray]:
    """Every tensor, read straight into an array of its own (the data is held once)."""
    arrays = {}
    for name, e in table.items():
        try:
            array = np.empty(e.shape, np.dtype(e.dtype).newbyteorder("<"))
        except ValueError as error:  # more than 64 dimensions, or one too large for NumPy
            raise _corrupt(p, f"tensor {name!r}: shape {e.shape}: {error}") from error
        f.seek(start + e.begin)
        view = memoryview(array.reshape(-1).view(np.uint8))
        done = 0
        while done < len(view):
            got = f.readinto(view[done:])
            if not got:
                raise _corrupt(p, "the file ended while it was read (changed meanwhile?)")
            done += got
        if not array.dtype.isnative:  # a big-endian machine
            array = array.astype(array.dtype.newbyteorder("="))
        arrays[name] = array
    return arrays
