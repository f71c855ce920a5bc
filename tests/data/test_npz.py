"""NPZ files are read member by member with their sizes checked first (issue 9, item 5): every
damaged, lying or foreign file is a DataError naming the file (and the member), never a
zipfile/zlib/tokenize/MemoryError/TypeError escaping; nothing is allocated from a header's
claim alone; and a seeded fuzz of mutated files ends only in the original Dataset or a
DataError."""

from __future__ import annotations

import io
import random
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest
from numpy.lib import format as npy

from deltaprop.data import load_dataset
from deltaprop.errors import DataError

X = np.arange(12, dtype=np.float64).reshape(4, 3)
Y = np.array([0, 1, 1, 0])


def member(arr: np.ndarray) -> bytes:
    """``arr`` as the bytes of a .npy file (object arrays too, as a hostile file would)."""
    out = io.BytesIO()
    npy.write_array(out, arr, allow_pickle=True)
    return out.getvalue()


def write_zip(path, members: dict[str, bytes], method: int = zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", method) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def test_a_npy_file_renamed_npz(tmp_path):
    np.save(tmp_path / "a.npy", X)
    p = tmp_path / "a.npz"
    (tmp_path / "a.npy").rename(p)
    with pytest.raises(DataError, match=r"a.npz: cannot read the NPZ file \(BadZipFile"):
        load_dataset(p)  # np.load returns a bare ndarray here: a TypeError on z.files


def test_a_header_claiming_a_huge_shape_allocates_nothing(tmp_path):
    p = write_zip(tmp_path / "h.npz", {
        "X.npy": member(X).replace(b"(4, 3)", b"(1000000000000, 4)"), "y.npy": member(Y),
    })  # fmt: skip
    tracemalloc.start()
    try:
        claim = r"shape \(1000000000000, 4\) of float64 needs 32000000000000 bytes"
        with pytest.raises(DataError, match=rf"h.npz: member 'X.npy': {claim}, the member holds"):
            load_dataset(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000  # np.load: a MemoryError after asking for 32 TB


def test_object_and_record_arrays_are_refused(tmp_path):
    labels = np.array(["a", 1, None], dtype=object)
    p = write_zip(tmp_path / "o.npz", {"X.npy": member(X), "y.npy": member(labels)})
    with pytest.raises(DataError, match=r"o.npz: member 'y.npy': dtype object .*never unpickled"):
        load_dataset(p)
    rec = np.zeros(4, dtype=[("a", "<f4"), ("b", "<i4")])
    write_zip(p, {"X.npy": member(rec), "y.npy": member(Y)})
    with pytest.raises(DataError, match="member 'X.npy': dtype .*objects or records"):
        load_dataset(p)


@pytest.mark.parametrize(
    "header, why",
    [
        (b"{'descr': '<f8', 'fortran_order': False, 'shape': (4, 3), ", "not a .npy array"),
        (b"{'descr': '<f8', 'fortran_order': False, 'shape': " + b"(" * 3000, "not a .npy array"),
        (b"{'descr': 'xyz', 'fortran_order': False, 'shape': (4, 3), }", "not a .npy array"),
        (b"{'descr': '<f8', 'fortran_order': False, 'shape': (-4, 3), }", "negative size"),
    ],
)
def test_damaged_headers(tmp_path, header, why):
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    data = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + bytes(96)
    p = write_zip(tmp_path / "d.npz", {"X.npy": data, "y.npy": member(Y)})
    with pytest.raises(DataError, match=f"d.npz: member 'X.npy': {why}"):
        load_dataset(p)


def test_other_versions_and_compression_methods_are_refused(tmp_path):
    v3 = b"\x93NUMPY\x03\x00" + member(X)[8:]
    p = write_zip(tmp_path / "v.npz", {"X.npy": v3, "y.npy": member(Y)})
    with pytest.raises(DataError, match=r"member 'X.npy': .npy format version \(3, 0\)"):
        load_dataset(p)
    # bzip2 inflates without a bound on the ratio; numpy never writes it
    write_zip(p, {"X.npy": member(X), "y.npy": member(Y)}, zipfile.ZIP_BZIP2)
    with pytest.raises(DataError, match="compression method 12; expected stored or deflated"):
        load_dataset(p)


def central_entry(raw: bytes, name: str) -> int:
    """The offset of ``name``'s entry in the ZIP central directory (APPNOTE 4.3.12)."""
    for at in range(len(raw) - 46):
        if raw[at : at + 4] == b"PK\x01\x02" and raw[at + 46 :].startswith(name.encode()):
            return at
    raise AssertionError(name)


def test_a_member_claiming_more_than_deflate_can_hold(tmp_path):
    p = write_zip(tmp_path / "b.npz", {"X.npy": member(X), "y.npy": member(Y)},
                  zipfile.ZIP_DEFLATED)  # fmt: skip
    raw = bytearray(p.read_bytes())
    struct.pack_into("<L", raw, central_entry(raw, "X.npy") + 24, 10**9)  # uncompressed size
    p.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"member 'X.npy': claims 1000000000 bytes uncompressed"):
        load_dataset(p)


def test_a_damaged_directory_that_hides_members(tmp_path):
    p = tmp_path / "c.npz"
    np.savez(p, X=X, y=Y, feature_names=np.array(["a", "b", "c"]))
    raw = bytearray(p.read_bytes())
    y_at, names_at = central_entry(raw, "y.npy"), central_entry(raw, "feature_names.npy")
    # y's comment length grows over feature_names' entry: zipfile then lists 2 members of 3
    struct.pack_into("<H", raw, y_at + 32, len(raw) - 22 - names_at)
    p.write_bytes(bytes(raw))
    assert len(zipfile.ZipFile(p).infolist()) == 2  # np.load: a file without its names
    with pytest.raises(DataError, match="lists 2 members, its end record declares 3"):
        load_dataset(p)


def test_a_bit_flip_in_the_data_fails_the_crc(tmp_path):
    p = tmp_path / "f.npz"
    np.savez(p, X=X, y=Y)
    raw = bytearray(p.read_bytes())
    raw[raw.index(member(X)[-8:])] ^= 1  # a byte of X's last value
    p.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"f.npz: member 'X.npy': damaged \(BadZipFile: Bad CRC"):
        load_dataset(p)


def test_valid_files_read_as_np_load_reads_them(tmp_path):
    p = tmp_path / "v.npz"
    Xf = np.asfortranarray(X).astype(">f8")
    np.savez_compressed(p, X=Xf, y=np.array([[0], [1], [1], [10**9]]), feature_names=np.array(
        ["a", "b", "c"]), extra=np.zeros(3))  # fmt: skip
    ds = load_dataset(p)
    np.testing.assert_array_equal(ds.X, X)
    # an (n, 1) label column counts as (n,): classes named by value, not 10**9 + 1 of them
    assert ds.y.tolist() == [0, 1, 1, 2] and ds.target_names == ["0", "1", "1000000000"]
    assert ds.feature_names == ["a", "b", "c"] and ds.X.flags.writeable
    np.savez(p, X=np.zeros((3, 2)), t=np.array(["b", "a", "b"]))
    assert load_dataset(p, label="t").target_names == ["a", "b"]
    np.savez(p, X=np.zeros((3, 2)), z=Y)
    with pytest.raises(DataError, match=r"expected arrays 'X' and 'y', found \['X', 'z'\]"):
        load_dataset(p)


# -- fuzz ------------------------------------------------------------------------------------


def _original(compressed: bool) -> bytes:
    rng = np.random.default_rng(0)
    out = io.BytesIO()
    save = np.savez_compressed if compressed else np.savez
    X = rng.normal(size=(12, 3)).astype(np.float32)
    names = {"feature_names": np.array(["a", "b", "c"]), "target_names": np.array(["p", "q", "r"])}
    save(out, X=X, y=np.arange(12) % 3, **names)
    return out.getvalue()


def _mutants(orig: bytes, rng: random.Random, n: int):
    """(kind, bytes): bit flips, truncations, random bytes, and members swapped or renamed."""
    members = {i.filename: zipfile.ZipFile(io.BytesIO(orig)).read(i) for i in
               zipfile.ZipFile(io.BytesIO(orig)).infolist()}  # fmt: skip
    for _ in range(n):
        b = bytearray(orig)
        kind = rng.choice(["flip", "flip", "truncate", "bytes", "swap"])
        if kind == "flip":
            for _ in range(rng.randint(1, 3)):
                i = rng.randrange(len(b) * 8)
                b[i // 8] ^= 1 << (i % 8)
        elif kind == "truncate":
            b = b[: rng.randrange(len(b))]
        elif kind == "bytes":
            for _ in range(rng.randint(1, 6)):
                b[rng.randrange(len(b))] = rng.randrange(256)
        else:  # one member's contents under another's name: a valid archive, other arrays
            names = list(members)
            a, c = rng.sample(names, 2)
            swapped = {**members, a: members[c], c: members[a]}
            out = io.BytesIO()
            with zipfile.ZipFile(out, "w") as z:
                for name, data in swapped.items():
                    z.writestr(name, data)
            yield kind, out.getvalue(), swapped
            continue
        yield kind, bytes(b), None


def _same(a, b) -> bool:
    return (
        a.task == b.task and a.n_classes == b.n_classes and a.feature_names == b.feature_names
        and a.target_names == b.target_names and np.array_equal(a.X, b.X)
        and np.array_equal(a.y, b.y)
    )  # fmt: skip


def _load(path):
    try:
        return load_dataset(path)
    except DataError as exc:
        return exc


@pytest.mark.parametrize("compressed", [False, True])
def test_fuzz_every_mutant_loads_as_the_original_or_is_a_data_error(tmp_path, compressed):
    orig = _original(compressed)
    p = tmp_path / "m.npz"
    p.write_bytes(orig)
    ref = load_dataset(p)
    rng = random.Random(1234 + compressed)
    outcomes = {"same": 0, "DataError": 0}
    for i, (kind, data, swapped) in enumerate(_mutants(orig, rng, 200)):
        p.write_bytes(data)
        got = _load(p)  # anything but a Dataset or a DataError fails the test here
        if swapped is not None:  # the same outcome as a clean file of those arrays
            clean = tmp_path / "clean.npz"
            write_zip(clean, swapped)
            want = _load(clean)
            assert type(got) is type(want), (i, kind)
            assert isinstance(got, DataError) or _same(got, want), (i, kind)
        else:
            assert isinstance(got, DataError) or _same(got, ref), (i, kind)
        outcomes["DataError" if isinstance(got, DataError) else "same"] += 1
    assert outcomes["DataError"] > 100  # the mutants were mostly damaged, as meant
