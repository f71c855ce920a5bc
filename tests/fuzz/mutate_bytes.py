"""Byte-level mutations of any file, and structure-aware ones of safetensors files (the
container of deltaprop's model files and training checkpoints).

Every mutation is a function ``(data, rng) -> (new_data, description)``; :func:`safetensors`
draws one of them with fixed weights. A safetensors file is an 8-byte little-endian header
length, a JSON header (the tensor table plus ``__metadata__``, a dict of strings) and the
tensor data; the header edits rewrite the header and its length field and keep the data.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from typing import Any

import mutate_json
import numpy as np

Mutation = Callable[[bytes, np.random.Generator], tuple[bytes, str]]

_INTERESTING = [0x00, 0xFF, 0x7F, 0x80, ord('"'), ord("{"), ord("]"), ord("9"), ord("-"), 0x20]


# --- any file ---------------------------------------------------------------------------------


def flip_bits(data: bytes, rng: np.random.Generator, lo: int = 0, hi: int | None = None):
    """One bit (most often) or up to 16 bits flipped in ``data[lo:hi]``."""
    hi = len(data) if hi is None else hi
    if hi <= lo:
        return data, "no bytes to flip"
    n = 1 if rng.random() < 0.6 else int(rng.integers(2, 17))
    out = bytearray(data)
    where = []
    for _ in range(n):
        i, b = int(rng.integers(lo, hi)), int(rng.integers(8))
        out[i] ^= 1 << b
        where.append(f"{i}.{b}")
    return bytes(out), f"flipped {n} bit(s) (byte.bit) {' '.join(where[:6])}"


def overwrite(data: bytes, rng: np.random.Generator):
    """1-8 bytes at one place set to random or boundary values."""
    if not data:
        return b"\x00", "wrote one byte into an empty file"
    i, n = int(rng.integers(len(data))), int(rng.integers(1, 9))
    if rng.random() < 0.5:
        new = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    else:
        new = bytes([_INTERESTING[rng.integers(len(_INTERESTING))]]) * n
    return data[:i] + new + data[i + n :], f"overwrote {n} byte(s) at {i} with {new[:8].hex()}"


def truncate(data: bytes, rng: np.random.Generator):
    """The file cut short: near the start, near the end or anywhere."""
    r = rng.random()
    if r < 0.3:
        n = int(rng.integers(0, min(16, len(data))))
    elif r < 0.6:
        n = max(0, len(data) - int(rng.integers(1, 17)))
    else:
        n = int(rng.integers(0, len(data)))
    return data[:n], f"truncated to {n} of {len(data)} bytes"


def extend(data: bytes, rng: np.random.Generator):
    """Bytes appended: zeros, random bytes or a second copy of the file."""
    kind = rng.integers(3)
    n = int(rng.integers(1, 4097))
    if kind == 0:
        return data + bytes(n), f"appended {n} zero bytes"
    if kind == 1:
        return data + rng.integers(0, 256, n, dtype=np.uint8).tobytes(), f"appended {n} bytes"
    return data + data, "appended a copy of the file"


def splice(data: bytes, rng: np.random.Generator):
    """Bytes inserted or deleted in the middle (what follows shifts)."""
    i, n = int(rng.integers(len(data) + 1)), int(rng.integers(1, 65))
    if rng.random() < 0.5:
        new = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        return data[:i] + new + data[i:], f"inserted {n} random bytes at {i}"
    return data[:i] + data[i + n :], f"deleted {n} bytes at {i}"


GENERIC: list[tuple[str, float, Mutation]] = [
    ("bitflip", 0.30, flip_bits),
    ("overwrite", 0.15, overwrite),
    ("truncate", 0.15, truncate),
    ("extend", 0.10, extend),
    ("splice", 0.10, splice),
]


def pick(table: list[tuple[str, float, Any]], rng: np.random.Generator) -> tuple[str, Any]:
    """One ``(name, function)`` of ``table`` by weight."""
    weights = np.array([w for _, w, _ in table], dtype=float)
    i = int(rng.choice(len(table), p=weights / weights.sum()))
    return table[i][0], table[i][2]


# --- safetensors files ------------------------------------------------------------------------


def split(data: bytes) -> tuple[dict[str, Any], bytes]:
    """``(header, tensor data)`` of a well-formed safetensors file."""
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def join(header: dict[str, Any] | str, body: bytes) -> bytes:
    """A safetensors file from a header (dict or JSON text) and the data, padded as the writer
    pads (spaces up to a multiple of 8)."""
    text = header if isinstance(header, str) else json.dumps(header, separators=(",", ":"))
    raw = text.encode("utf-8", "surrogatepass")
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + body


def header_bits(data: bytes, rng: np.random.Generator):
    """Bits flipped inside the JSON header only (where the architecture and metadata are)."""
    (n,) = struct.unpack("<Q", data[:8])
    return flip_bits(data, rng, 8, min(8 + n, len(data)))


def length_field(data: bytes, rng: np.random.Generator):
    """The 8-byte header length set to a nearby, boundary or absurd value."""
    (n,) = struct.unpack("<Q", data[:8])
    choices = [
        n + int(rng.integers(1, 17)),
        max(0, n - int(rng.integers(1, 17))),
        0,
        2,
        7,
        len(data),
        len(data) - 8,
        2**31,
        2**32 + n,
        2**63 - 1,
        2**64 - 1,
        int(rng.integers(0, 2**20)),
    ]
    new = choices[rng.integers(len(choices))]
    return struct.pack("<Q", new) + data[8:], f"header length {n} -> {new}"


def json_metadata(data: bytes, rng: np.random.Generator):
    """A JSON-aware edit of one of the JSON strings in ``__metadata__`` (the architecture, the
    user metadata, a checkpoint's state): a number, a string, a key, a type, nesting."""
    header, body = split(data)
    meta = header["__metadata__"]
    keys = [k for k, v in meta.items() if v[:1] in "{["]
    key = keys[rng.integers(len(keys))]
    tree, what = mutate_json.edit(json.loads(meta[key]), rng)
    meta[key] = mutate_json.dumps(tree)
    return join(header, body), f"__metadata__.{key}: {what}"


def outer_metadata(data: bytes, rng: np.random.Generator):
    """An edit of ``__metadata__`` itself: a key deleted or renamed, a value changed or made a
    non-string, a key added."""
    header, body = split(data)
    meta = header["__metadata__"]
    key = sorted(meta)[rng.integers(len(meta))]
    kind = rng.integers(5)
    if kind == 0:
        del meta[key]
        return join(header, body), f"__metadata__: deleted {key!r}"
    if kind == 1:
        new = mutate_json._new_key(key, rng)
        meta[new] = meta.pop(key)
        return join(header, body), f"__metadata__: renamed {key!r} to {new!r}"
    if kind == 2:
        meta[key] = mutate_json._string(meta[key], rng)
        return join(header, body), f"__metadata__.{key}: changed the string"
    if kind == 3:
        meta[key] = [1, None, {"a": 1}, ["x"]][rng.integers(4)]
        return join(header, body), f"__metadata__.{key}: made a non-string"
    meta["fuzz"] = "1"
    return join(header, body), "__metadata__: added a key"


_DTYPES = ["F16", "BF16", "F32", "F64", "I8", "U8", "I32", "I64", "BOOL", "U64", "F8_E4M3", "X9"]


def tensor_table(data: bytes, rng: np.random.Generator):
    """An edit of the tensor table: a dtype, shape or offsets changed, a tensor renamed,
    deleted or duplicated, or two tensors swapped (names, or data offsets and shapes)."""
    header, body = split(data)
    names = sorted(k for k in header if k != "__metadata__")
    name = names[rng.integers(len(names))]
    entry = header[name]
    kind = rng.integers(7)
    if kind == 0:
        old, entry["dtype"] = entry["dtype"], _DTYPES[rng.integers(len(_DTYPES))]
        what = f"dtype {old} -> {entry['dtype']}"
    elif kind == 1:
        shape = list(entry["shape"])
        options = [
            shape[::-1],
            shape + [1],
            shape[1:],
            [int(np.prod(shape))],
            [],
            [2**40] + shape[1:],
            [-1] + shape[1:],
            [s * 2 for s in shape],
        ]
        entry["shape"] = options[rng.integers(len(options))]
        what = f"shape {shape} -> {entry['shape']}"
    elif kind == 2:
        b, e = entry["data_offsets"]
        options = [[b, e + 4], [b + 4, e], [b - 4, e - 4], [e, b], [0, e - b], [b, 2**40]]
        entry["data_offsets"] = options[rng.integers(len(options))]
        what = f"data_offsets {[b, e]} -> {entry['data_offsets']}"
    elif kind == 3:
        new = mutate_json._new_key(name, rng)
        header[new] = header.pop(name)
        what = f"renamed to {new!r}"
    elif kind == 4:
        del header[name]
        what = "deleted from the table"
    elif kind == 5:
        header[name + ".copy"] = dict(entry)
        what = "listed twice"
    else:
        return swap_tensors(data, rng)
    return join(header, body), f"tensor {name!r}: {what}"


def swap_tensors(data: bytes, rng: np.random.Generator):
    """Two tensors swapped: same-sized ones exchange their data (offsets) when there are such,
    else two entries exchange names."""
    header, body = split(data)
    names = sorted(k for k in header if k != "__metadata__")
    size = {k: header[k]["data_offsets"][1] - header[k]["data_offsets"][0] for k in names}
    pairs = [(a, b) for a in names for b in names if a < b and size[a] == size[b]]
    if pairs and rng.random() < 0.7:
        a, b = pairs[rng.integers(len(pairs))]
        for key in ("data_offsets", "shape"):
            header[a][key], header[b][key] = header[b][key], header[a][key]
        return join(header, body), f"swapped the data of {a!r} and {b!r}"
    i, j = rng.choice(len(names), 2, replace=False)
    a, b = names[i], names[j]
    header[a], header[b] = header[b], header[a]
    return join(header, body), f"swapped the entries of {a!r} and {b!r}"


SAFETENSORS: list[tuple[str, float, Mutation]] = GENERIC + [
    ("header-bitflip", 0.25, header_bits),
    ("length-field", 0.05, length_field),
    ("json-edit", 0.35, json_metadata),
    ("metadata-edit", 0.10, outer_metadata),
    ("table-edit", 0.10, tensor_table),
    ("tensor-swap", 0.05, swap_tensors),
]


def safetensors(data: bytes, rng: np.random.Generator) -> tuple[str, bytes, str]:
    """One mutation of a safetensors file: ``(family, new bytes, description)``."""
    family, fn = pick(SAFETENSORS, rng)
    new, what = fn(data, rng)
    return family, new, what
