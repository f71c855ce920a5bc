"""Mutations of NPZ files: the zip container (record fields, compression methods), the
members (swapped, renamed, dropped, repeated, junk), the ``.npy`` headers inside (huge or wrong
shapes, other dtypes, broken dicts), other files under the name, plus the byte-level ones of
:mod:`mutate_bytes`.

Each mutation is ``(data, rng) -> (new_data, description)``; :func:`npz_file` draws one with
fixed weights and returns ``(family, new_data, description)``. The edits that change a member
rewrite the archive, so its CRCs are right and the edit reaches NumPy's ``.npy`` parser instead
of stopping at the zip layer.
"""

from __future__ import annotations

import ast
import gzip
import io
import struct
import warnings
import zipfile

import mutate_bytes
import numpy as np
from mutate_bytes import pick


def members(data: bytes) -> list[tuple[zipfile.ZipInfo, bytes]]:
    """The ``(info, content)`` of each member of a well-formed archive, in order."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return [(info, z.read(info)) for info in z.infolist()]


def rezip(items: list[tuple[str, bytes]], compressed: bool) -> bytes:
    """An archive of ``(name, content)`` members with correct CRCs (names may repeat)."""
    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "w", method) as z, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name": on purpose
        for name, content in items:
            z.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), content, method)
    return buf.getvalue()


def _is_compressed(data: bytes) -> bool:
    return any(i.compress_type != zipfile.ZIP_STORED for i, _ in members(data))


def npy_split(content: bytes) -> tuple[bytes, dict, bytes]:
    """``(magic and version, header dict, array bytes)`` of a ``.npy`` member (version 1)."""
    (n,) = struct.unpack("<H", content[8:10])
    return content[:8], ast.literal_eval(content[10 : 10 + n].decode("latin-1")), content[10 + n :]


def npy_join(prefix: bytes, header: dict | str, body: bytes) -> bytes:
    text = header if isinstance(header, str) else repr(header)
    raw = text.encode("latin-1")
    raw += b" " * (-(len(raw) + 11) % 64) + b"\n"
    return prefix + struct.pack("<H", len(raw)) + raw + body


def npy_header(data: bytes, rng: np.random.Generator):
    """A member's ``.npy`` header edited (a huge or wrong shape, another dtype, Fortran order,
    another version, a broken dict), the archive resealed."""
    items = members(data)
    k = int(rng.integers(len(items)))
    name = items[k][0].filename
    prefix, header, body = npy_split(items[k][1])
    n = header["shape"][0] if header["shape"] else 1
    kind = rng.integers(5)
    if kind == 0:
        shapes = [
            (10**12, 4),
            (2**62,),
            (2**31, 2**31),
            (n * 4,),
            (n, 2, 2),
            (0, 4),
            (n + 1, 4),
            (),
            (-1, 4),
            (n, 4, 1),
        ]
        header["shape"] = shapes[rng.integers(len(shapes))]
        what = f"shape -> {header['shape']}"
    elif kind == 1:
        descrs = [
            "<f8",
            "<i4",
            "<f4",
            "|O",
            "<U1",
            "|S4",
            "<c8",
            "|V4",
            "<M8[s]",
            ">f4",
            "|b1",
            "<f2",
            "<m8[D]",
            "<i8",
            "<u8",
            [("a", "<f4")],
            "<q",
        ]
        header["descr"] = descrs[rng.integers(len(descrs))]
        what = f"descr -> {header['descr']!r}"
    elif kind == 2:
        header["fortran_order"] = not header["fortran_order"]
        what = "fortran_order flipped"
    elif kind == 3:
        prefix = prefix[:6] + bytes([int(rng.choice([0, 2, 3, 9])), 0])
        what = f"npy version -> {prefix[6]}.0"
    else:
        text = repr(header)
        broken = [
            text[:-2],
            text.replace("(", "(("),
            text.replace("'", '"', 1),
            "{}",
            text + " 1",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1e12, 4)}",
            text.replace("False", "__import__('os')"),
            "[" * 200,
        ]
        header = broken[rng.integers(len(broken))]
        what = f"header text -> {header[:40]!r}"
    out = [(i.filename, c) for i, c in items]
    out[k] = (name, npy_join(prefix, header, body))
    return rezip(out, _is_compressed(data)), f"member {name!r}: {what}"


def member_swap(data: bytes, rng: np.random.Generator):
    """Members swapped, renamed, dropped, duplicated or added, the archive resealed."""
    items = [(i.filename, c) for i, c in members(data)]
    names = [n for n, _ in items]
    kind = rng.integers(5)
    if kind == 0 and len(items) > 1:
        i, j = rng.choice(len(items), 2, replace=False)
        items[i], items[j] = (names[i], items[j][1]), (names[j], items[i][1])
        what = f"swapped the contents of {names[i]!r} and {names[j]!r}"
    elif kind == 1:
        i = int(rng.integers(len(items)))
        new = ["x.npy", "X", "X.npy.npy", "../X.npy", "Y.npy"][rng.integers(5)]
        items[i] = (new, items[i][1])
        what = f"renamed {names[i]!r} to {new!r}"
    elif kind == 2:
        i = int(rng.integers(len(items)))
        del items[i]
        what = f"dropped {names[i]!r}"
    elif kind == 3:
        i = int(rng.integers(len(items)))
        items.append(items[i])
        what = f"{names[i]!r} stored twice"
    else:
        junk = [b"not an array", b"\x93NUMPY\x01\x00", b""][rng.integers(3)]
        items.append(([n for n in ("X.npy", "y.npy", "z.npy")][rng.integers(3)], junk))
        what = f"added a junk member ({junk[:12]!r})"
    return rezip(items, _is_compressed(data)), what


def not_npz(data: bytes, rng: np.random.Generator):
    """Something else under the .npz name: one bare ``.npy`` (X or y), text, gzip, nothing."""
    kind = rng.integers(5)
    items = members(data)
    if kind <= 1:
        info, content = items[kind if kind < len(items) else 0]
        return content, f"the bare {info.filename} member as the file (a .npy renamed .npz)"
    if kind == 2:
        return b"a,b,label\n1,2,x\n", "a CSV file renamed .npz"
    if kind == 3:
        return gzip.compress(data), "the archive gzip-compressed"
    return b"", "an empty file"


def zip_fields(data: bytes, rng: np.random.Generator):
    """A field of a zip record overwritten: compression method, sizes, offsets, counts."""
    sig = [b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06"][rng.integers(3)]
    spots = [i for i in range(len(data) - 3) if data[i : i + 4] == sig]
    if not spots:
        return mutate_bytes.flip_bits(data, rng)
    at = spots[rng.integers(len(spots))]
    # offsets of 2- and 4-byte fields after each signature (method, crc, sizes, counts, offset)
    fields = {
        b"PK\x03\x04": [(8, 2), (14, 4), (18, 4), (22, 4), (26, 2), (28, 2)],
        b"PK\x01\x02": [(10, 2), (16, 4), (20, 4), (24, 4), (28, 2), (42, 4)],
        b"PK\x05\x06": [(8, 2), (10, 2), (12, 4), (16, 4)],
    }[sig]
    off, size = fields[rng.integers(len(fields))]
    value = int(rng.choice([0, 1, 8, 12, 14, 99, 2**16 - 1, 2**32 - 1, 2**31]))
    value &= (1 << (8 * size)) - 1
    raw = value.to_bytes(size, "little")
    pos = at + off
    return data[:pos] + raw + data[pos + size :], f"zip record {sig!r}@{at} +{off} -> {value}"


NPZ: list[tuple[str, float, mutate_bytes.Mutation]] = mutate_bytes.GENERIC + [
    ("npy-header", 0.30, npy_header),
    ("member-swap", 0.15, member_swap),
    ("not-npz", 0.05, not_npz),
    ("zip-fields", 0.15, zip_fields),
]


def npz_file(data: bytes, rng: np.random.Generator) -> tuple[str, bytes, str]:
    """One mutation of an NPZ file: ``(family, new bytes, description)``."""
    family, fn = pick(NPZ, rng)
    new, what = fn(data, rng)
    return family, new, what
