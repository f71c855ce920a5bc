"""IDX files: the header's dimensions are checked against what the file can hold before the
data is read (issue 9, item 5 for IDX): a small .gz whose header claims 60000 x 28 x 28 is
refused without inflating anything, and damaged gzip streams are DataErrors, not zlib.error."""

from __future__ import annotations

import gzip
import random
import struct
import tracemalloc

import numpy as np
import pytest

from deltaprop.data import load_idx
from deltaprop.errors import DataError


def idx_bytes(shape, data=b"", code=0x08) -> bytes:
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + data


def test_a_gz_header_claiming_more_than_the_file_can_inflate_to(tmp_path):
    p = tmp_path / "train-images-idx3-ubyte.gz"
    # 100 GB claimed; 20 MB of zeros inflate from ~20 KB, which cannot hold 100 GB
    p.write_bytes(gzip.compress(idx_bytes((60000, 60000, 28), bytes(20_000_000)), 1))
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"shape \(60000, 60000, 28\) needs 100800000000"):
            load_idx(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000


def test_a_gz_whose_data_is_short_or_long(tmp_path):
    p = tmp_path / "l.idx1-ubyte.gz"
    p.write_bytes(gzip.compress(idx_bytes((5,), b"abc")))
    with pytest.raises(DataError, match=r"shape \(5,\) needs 5 bytes, got 3"):
        load_idx(p)
    # 2 bytes claimed, 20 MB inflated: refused at the first byte too many, not after them all
    p.write_bytes(gzip.compress(idx_bytes((2,), bytes(20_000_000)), compresslevel=1))
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"shape \(2,\) needs 2 bytes"):
            load_idx(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000


def test_damaged_gzip_is_a_data_error(tmp_path):
    a = np.arange(50, dtype=np.uint8).reshape(2, 5, 5)
    good = gzip.compress(idx_bytes(a.shape, a.tobytes()))
    p = tmp_path / "i.idx.gz"
    rng = random.Random(7)
    outcomes = set()
    for _ in range(150):
        raw = bytearray(good)
        if rng.random() < 0.5:
            raw = raw[: rng.randrange(2, len(raw))]  # keep the magic: it decides gzip
        else:
            i = rng.randrange(10 * 8, len(raw) * 8)  # past the gzip header's own fields
            raw[i // 8] ^= 1 << (i % 8)
        p.write_bytes(bytes(raw))
        try:
            out = load_idx(p)
        except DataError:
            outcomes.add("DataError")
            continue
        np.testing.assert_array_equal(out, a)  # only the original, never other numbers
        outcomes.add("same")
    assert "DataError" in outcomes
