"""NPZ files read member by member, with every size checked before anything is allocated.

``np.load`` trusts a file: a member whose ``.npy`` header claims shape (10**12, 4) makes it
allocate terabytes, and a damaged archive raises whatever ``zipfile``, ``zlib`` or the header
parser happen to raise. Here each ``.npy`` header is parsed with ``numpy.lib.format`` on the
member's stream, its shape times the item size must equal the member's uncompressed size (which
must itself be possible for the compressed size), and only then is the data read, so every
damaged or lying file ends in a :class:`~deltaprop.errors.DataError` naming the file and the
member. Object arrays (pickles) are refused: nothing in a data file runs code.
"""

from __future__ import annotations

import math
import os
import struct
import tokenize
import warnings
import zipfile
import zlib
from typing import IO

import numpy as np
from numpy.lib import format as npy

from ..errors import DataError
from ..io.files import check_regular_file, read_bounded

#: What zipfile, zlib and the .npy header parser raise on damaged input. zipfile documents
#: only BadZipFile; the rest comes from its internals (a flipped compression method is a
#: NotImplementedError, a flipped encryption flag a RuntimeError, a bad length a struct.error).
_READ_ERRORS = (
    OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error, NotImplementedError,
    RuntimeError, struct.error, OverflowError,
)  # fmt: skip
#: What numpy's .npy header parser raises on a header it cannot read. The header is at most
#: 10,000 characters (numpy's limit), so even running out of stack or memory on nested
#: brackets happened on a bounded input.
_HEADER_ERRORS = (
    ValueError, SyntaxError, tokenize.TokenError, TypeError, RecursionError, MemoryError,
)  # fmt: skip
#: Deflate encodes at most 258 bytes in 2 bits (a ratio of 1032); numpy writes only stored or
#: deflated members, so a member claiming more is damaged, and no other method is accepted.
_DEFLATE_RATIO = 1032
_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
_CHUNK = 1 << 20
# The ZIP format's end records (APPNOTE 4.3.14-16): signature, disk numbers, entry counts.
_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_END = struct.Struct("<4sQ2H2L4Q")


def read_npz(path: str | os.PathLike, keys: list[str]) -> tuple[dict[str, np.ndarray], list[str]]:
    """``(arrays, found)``: the arrays ``keys`` (member ``<key>.npy``) that an NPZ file has
    (absent keys are left out), and the keys of all its members, as ``np.load`` names them
    (``.npy`` removed). Every member is checked (its size, its CRC), used or not, so a damaged
    file is refused as a whole rather than read in part.

    Raises:
        DataError naming the file (and the member): not a regular file, not a ZIP archive,
        damaged, a header whose shape does not match the member's size, an object or
        structured dtype, or a .npy format version other than 1.0 and 2.0.
    """
    p = check_regular_file(path, "data file", error=DataError)
    size = os.path.getsize(p)
    wanted = {f"{k}.npy": k for k in keys}
    out: dict[str, np.ndarray] = {}
    try:
        fh = open(p, "rb")  # noqa: SIM115 (closed by the ZipFile, or below)
        try:
            zf = zipfile.ZipFile(fh)
            declared = _declared_entries(fh, size)
        except BaseException:
            fh.close()
            raise
    except _READ_ERRORS as exc:
        raise DataError(f"{p}: cannot read the NPZ file ({_why(exc)})") from None
    with fh, zf:
        infos = zf.infolist()
        if declared != len(infos):
            # zipfile stops at the central directory's declared size; a damaged length field
            # inside it hides the members after it, which would load as a file without them.
            raise DataError(
                f"{p}: cannot read the NPZ file (its directory lists {len(infos)} members, "
                f"its end record declares {declared}): the archive is damaged"
            )
        for info in infos:
            _check_member_size(p, info, size)
        for info in infos:
            try:
                with zf.open(info) as f:
                    if info.filename in wanted:
                        out[wanted[info.filename]] = _read_member(p, info, f)
                    else:  # read to the end all the same: zipfile then checks its CRC
                        while f.read(_CHUNK):
                            pass
            except DataError:
                raise
            except _READ_ERRORS as exc:
                raise DataError(f"{p}: member {info.filename!r}: damaged ({_why(exc)})") from None
    return out, [i.filename.removesuffix(".npy") for i in infos]


def _why(exc: BaseException) -> str:
    """The exception in a line of reasonable length (numpy quotes a whole damaged header)."""
    text = str(exc)
    return f"{type(exc).__name__}: {text[:200]}{'...' if len(text) > 200 else ''}"


def _declared_entries(fh: IO[bytes], size: int) -> int | None:
    """The member count that the end-of-central-directory record (or its ZIP64 form) declares,
    found as zipfile finds it: the last signature within a comment's reach of the end."""
    reach = min(size, _EOCD.size + 0xFFFF)
    fh.seek(size - reach)
    tail = fh.read(reach)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _EOCD.size:
        return None
    count = _EOCD.unpack_from(tail, at)[4]
    if count == 0xFFFF and at >= _ZIP64_LOCATOR.size:  # too many for 16 bits: see ZIP64
        sig, _, offset, _ = _ZIP64_LOCATOR.unpack_from(tail, at - _ZIP64_LOCATOR.size)
        if sig == b"PK\x06\x07" and 0 <= offset <= size - _ZIP64_END.size:
            fh.seek(offset)
            record = fh.read(_ZIP64_END.size)
            if record[:4] == b"PK\x06\x06":
                count = _ZIP64_END.unpack(record)[7]
    return count


def _check_member_size(path: str, info: zipfile.ZipInfo, size: int) -> None:
    where = f"{path}: member {info.filename!r}"
    if info.compress_type not in _METHODS:
        raise DataError(
            f"{where}: compression method {info.compress_type}; expected stored or deflated "
            "(what numpy.savez writes)"
        )
    if info.compress_size > size:
        raise DataError(f"{where}: claims {info.compress_size} bytes, more than the file's {size}")
    most = info.compress_size if info.compress_type == zipfile.ZIP_STORED else (
        _DEFLATE_RATIO * info.compress_size + 1024)  # fmt: skip
    if info.file_size > most:
        raise DataError(
            f"{where}: claims {info.file_size} bytes uncompressed from "
            f"{info.compress_size} {_METHODS[info.compress_type]}; the archive is damaged"
        )


def _read_member(path: str, info: zipfile.ZipInfo, f: IO[bytes]) -> np.ndarray:
    """One ``.npy`` member (header, then exactly ``prod(shape) * itemsize`` bytes of data)."""
    where = f"{path}: member {info.filename!r}"
    try:
        version = npy.read_magic(f)
        with warnings.catch_warnings():  # numpy's note on Python 2 headers is not ours to show
            warnings.simplefilter("ignore")
            if version == (1, 0):
                shape, fortran, dtype = npy.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = npy.read_array_header_2_0(f)
            else:
                raise DataError(f"{where}: .npy format version {version}; expected 1.0 or 2.0")
    except DataError:
        raise
    except _HEADER_ERRORS as exc:  # damage to the archive itself propagates: "damaged"
        raise DataError(f"{where}: not a .npy array ({_why(exc)})") from None
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise DataError(
            f"{where}: dtype {dtype} (objects or records); expected numbers or text "
            "(data files are never unpickled)"
        )
    if any(d < 0 for d in shape):
        raise DataError(f"{where}: negative size in shape {shape}")
    count = math.prod(shape)
    nbytes = count * dtype.itemsize
    available = info.file_size - f.tell()
    if nbytes != available or (count and not dtype.itemsize):
        raise DataError(
            f"{where}: shape {shape} of {dtype} needs {nbytes} bytes, the member holds {available}"
        )
    buf, got, more = read_bounded(f, nbytes)  # bounded by the member's checked size
    if got != nbytes or more:
        raise DataError(f"{where}: expected {nbytes} bytes of data, got {got}")
    if not count:
        return np.empty(shape, dtype)  # frombuffer refuses zero-size items
    arr = np.frombuffer(buf, dtype=dtype, count=count)
    if dtype.kind == "U":  # UTF-32 units: one past Unicode's range makes NumPy fail on reading
        units = arr.view(
            dtype.byteorder.replace("=", "") + "u4" if dtype.byteorder != "|" else "u4"
        )
        if (units > 0x10FFFF).any() or ((units >= 0xD800) & (units <= 0xDFFF)).any():
            raise DataError(f"{where}: text that is not valid Unicode")
    return arr.reshape(shape, order="F" if fortran else "C")
