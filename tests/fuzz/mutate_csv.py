"""Mutations of CSV files: cells (huge, tiny, odd or non-finite numbers, text, giant labels),
delimiters, encodings (BOMs, UTF-16, Latin-1, CRLF), binary garbage, header names, plus the
byte-level ones of :mod:`mutate_bytes`.

Each mutation is ``(data, rng) -> (new_data, description)``; :func:`csv_file` draws one with
fixed weights and returns ``(family, new_data, description)``.
"""

from __future__ import annotations

import mutate_bytes
import numpy as np
from mutate_bytes import pick

# Numbers a spreadsheet or a program may write: beyond float32's range (1e39) or float64's
# (1e309), non-finite, subnormal, hexadecimal, with underscores, in other scripts' digits.
ODD_NUMBERS = (
    "1e39 -1e39 1e300 -1e300 3.4028235e38 3.5e38 1e309 -1e309 inf -Infinity nan NaN 1e-50 -0 "
    "0x1F 1_000 +5 .5 5. 1e9 99999999999999999999999 \u0661\u0662 \uff11\uff12 1,5 1.2.3 "
    "\u0661e3 2e-320"
).split(" ")
ODD_TEXT = [
    "abc",
    "",
    "NULL",
    "?",
    "NA",
    '"quoted, comma"',
    "é",
    "\x00",
    "x" * 200_000,
    "None",
    " ",
    "\t",
    "TRUE",
]
GIANT_LABELS = "1e9 1000000000 -1e300 1e39 123456789012 1e18 4294967296".split()


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def _set_cell(data: bytes, rng: np.random.Generator, value: str, label: bool | None = None):
    lines = _lines(data)
    rows = [i for i, line in enumerate(lines[1:], start=1) if line.strip()]
    r = rows[rng.integers(len(rows))]
    cells = lines[r].split(b",")
    c = len(cells) - 1 if label else int(rng.integers(len(cells) - (label is False)))
    cells[c] = value.encode("utf-8")
    lines[r] = b",".join(cells)
    return b"\n".join(lines), f"line {r + 1}, field {c + 1} -> {value[:30]!r}"


def cell_number(data: bytes, rng: np.random.Generator):
    """A cell set to a huge, tiny, non-finite or oddly written number."""
    return _set_cell(data, rng, ODD_NUMBERS[rng.integers(len(ODD_NUMBERS))])


def cell_text(data: bytes, rng: np.random.Generator):
    """A cell set to text, empty, a NUL, a giant string."""
    return _set_cell(data, rng, ODD_TEXT[rng.integers(len(ODD_TEXT))])


def giant_label(data: bytes, rng: np.random.Generator):
    """One label (or every label of one class) set to a giant number."""
    value = GIANT_LABELS[rng.integers(len(GIANT_LABELS))]
    if rng.random() < 0.5:
        return _set_cell(data, rng, value, label=True)
    lines = _lines(data)
    target = lines[1].rsplit(b",", 1)[-1]
    for i in range(1, len(lines)):
        head, _, last = lines[i].rpartition(b",")
        if last == target:
            lines[i] = head + b"," + value.encode()
    return b"\n".join(lines), f"every label {target.decode(errors='replace')!r} -> {value!r}"


def delimiters(data: bytes, rng: np.random.Generator):
    """A delimiter added to or removed from a row (or the header), or a blank row inserted."""
    lines = _lines(data)
    r = int(rng.integers(len(lines)))
    kind = rng.integers(4)
    if kind == 0:
        lines[r] += b","
        what = "a delimiter appended"
    elif kind == 1 and b"," in lines[r]:
        i = lines[r].index(b",")
        lines[r] = lines[r][:i] + lines[r][i + 1 :]
        what = "a delimiter removed"
    elif kind == 2:
        lines[r] = lines[r].replace(b",", b";")
        what = "';' for ','"
    else:
        lines.insert(r, [b"", b"   ", b",,,", b'"'][rng.integers(4)])
        what = "an odd row inserted"
    return b"\n".join(lines), f"line {r + 1}: {what}"


def encoding(data: bytes, rng: np.random.Generator):
    """BOMs (UTF-8 at the start or twice, UTF-16 with its BOM, a BOM mid-file), Latin-1, CRLF."""
    kind = rng.integers(6)
    if kind == 0:
        return b"\xef\xbb\xbf" + data, "a UTF-8 BOM prepended"
    if kind == 1:
        return b"\xef\xbb\xbf\xef\xbb\xbf" + data, "two UTF-8 BOMs prepended"
    if kind == 2:
        return data.decode().encode("utf-16"), "re-encoded as UTF-16 with a BOM"
    if kind == 3:
        i = data.index(b"\n", len(data) // 2) + 1
        return data[:i] + b"\xef\xbb\xbf" + data[i:], "a UTF-8 BOM in the middle"
    if kind == 4:
        return data.replace(b"\n", b"\r\n", int(rng.integers(1, 5))), "some CRLF line ends"
    return data + "caf\xe9,1,2,3,x\n".encode("latin-1"), "a Latin-1 row appended"


def garbage(data: bytes, rng: np.random.Generator):
    """Random bytes (binary garbage, quotes, NULs) inserted somewhere."""
    i, n = int(rng.integers(len(data) + 1)), int(rng.integers(1, 65))
    new = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    if rng.random() < 0.3:
        new = [b'"', b"\x00", b"\r", b"\x1a"][rng.integers(4)] * int(rng.integers(1, 4))
    return data[:i] + new + data[i:], f"inserted {new[:16]!r} at {i}"


def header_cells(data: bytes, rng: np.random.Generator):
    """A header name emptied, duplicated, made a number or giant."""
    lines = _lines(data)
    cells = lines[0].split(b",")
    c = int(rng.integers(len(cells)))
    new = [b"", cells[(c + 1) % len(cells)], b"3.5", b"h" * 100_000, b" "][rng.integers(5)]
    cells[c] = new
    lines[0] = b",".join(cells)
    return b"\n".join(lines), f"header field {c + 1} -> {new[:20]!r}"


CSV: list[tuple[str, float, mutate_bytes.Mutation]] = [
    ("cell-number", 0.25, cell_number),
    ("cell-text", 0.10, cell_text),
    ("giant-label", 0.10, giant_label),
    ("delimiters", 0.10, delimiters),
    ("encoding", 0.08, encoding),
    ("garbage", 0.07, garbage),
    ("header", 0.05, header_cells),
    ("bitflip", 0.10, mutate_bytes.flip_bits),
    ("truncate", 0.08, mutate_bytes.truncate),
    ("extend", 0.04, mutate_bytes.extend),
    ("splice", 0.03, mutate_bytes.splice),
]


def csv_file(data: bytes, rng: np.random.Generator) -> tuple[str, bytes, str]:
    """One mutation of a CSV file: ``(family, new bytes, description)``."""
    family, fn = pick(CSV, rng)
    new, what = fn(data, rng)
    return family, new, what
