"""deltaprop.io: the atomic write, stale temporaries, path checks, the checksum, the container."""

import os

import numpy as np
import pytest
import safetensors.numpy

from deltaprop import io
from deltaprop.errors import ConfigError, ModelFileError


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "f.bin"
    io.atomic_write(path, b"one")
    io.atomic_write(str(path), b"two")
    assert path.read_bytes() == b"two"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_atomic_write_fsyncs_before_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(
        os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1]
    )
    io.atomic_write(tmp_path / "f.bin", b"data")
    assert events[:2] == ["fsync", "replace"]


def test_atomic_write_errors_name_the_path(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        io.atomic_write(tmp_path / "no" / "f.bin", b"x")
    with pytest.raises(ModelFileError, match="is a folder"):
        io.atomic_write(tmp_path, b"x")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ModelFileError, match="not a regular file"):
        io.atomic_write(fifo, b"x")  # the rename would have replaced the FIFO by a file
    assert not fifo.is_file() and fifo.exists()


def test_remove_stale_temporaries_only_removes_ours(tmp_path):
    path = tmp_path / "state.ckpt"
    ours = tmp_path / ".state.ckpt.0123456789ab.tmp"
    others = [
        tmp_path / ".other.0123456789ab.tmp",
        tmp_path / ".state.ckpt.0123.tmp",
        tmp_path / "state.ckpt.0123456789ab.tmp",
    ]
    for f in [ours, *others]:
        f.write_bytes(b"x")
    io.remove_stale_temporaries(path)
    assert not ours.exists() and all(f.exists() for f in others)
    io.remove_stale_temporaries(tmp_path / "missing-folder" / "x")  # nothing to do, no error


def test_a_write_cleans_a_dead_writers_temporary_and_keeps_a_live_ones(tmp_path):
    # A process killed mid-write leaves ``.<name>.<pid>-<hex>.tmp``; the next write of the same
    # path removes it (its writer is gone), but never the file of a writer that is still alive.
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    path = tmp_path / "model.safetensors"
    stale = tmp_path / f".model.safetensors.{int(dead.stdout)}-0123456789ab.tmp"
    legacy = tmp_path / ".model.safetensors.0123456789ab.tmp"  # 0.1.0's naming
    live = tmp_path / f".model.safetensors.{os.getppid()}-0123456789ab.tmp"
    for f in (stale, legacy, live):
        f.write_bytes(b"partial")
    io.atomic_write(path, b"whole")
    assert path.read_bytes() == b"whole"
    assert not stale.exists() and not legacy.exists() and live.exists()


def test_check_regular_file_refuses_folders_fifos_and_missing_files(tmp_path):
    f = tmp_path / "a.bin"
    f.write_bytes(b"x")
    assert io.check_regular_file(f) == str(f)
    with pytest.raises(ModelFileError, match="no such file"):
        io.check_regular_file(tmp_path / "missing")
    with pytest.raises(ModelFileError, match="is a folder"):
        io.check_regular_file(tmp_path, "model file")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="FIFO"):  # the caller's error type
        io.check_regular_file(fifo, "data file", error=ConfigError)
    with pytest.raises(ModelFileError, match="not a regular file"):
        io.check_regular_file("/dev/null")


def test_check_path_and_same_path(tmp_path):
    assert io.check_path(tmp_path / "a.ckpt", "checkpoint") == str(tmp_path / "a.ckpt")
    with pytest.raises(ConfigError, match="resume_from: expected a file path, got 3"):
        io.check_path(3, "resume_from")
    with pytest.raises(ConfigError, match="is a folder"):
        io.check_path(tmp_path, "checkpoint")
    with pytest.raises(ConfigError, match="does not exist"):
        io.check_path(tmp_path / "no" / "a", "checkpoint")
    assert io.same_path(tmp_path / "a", str(tmp_path / "." / "a"))
    assert not io.same_path(None, None) and not io.same_path(tmp_path / "a", tmp_path / "b")


def test_checksum_of_bytes_text_and_tensors():
    assert io.checksum("abc") == io.checksum(b"abc")
    assert io.checksum(b"abc").startswith("sha256:") and len(io.checksum(b"")) == 7 + 64
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    same = {"w": np.asfortranarray(a), "b": np.arange(2, dtype=">f8")}
    assert io.checksum({"b": np.arange(2.0), "w": a}) == io.checksum(same)  # layout, byte order
    assert io.checksum({"w": a}) != io.checksum({"w": a.reshape(3, 2)})  # the shape counts
    assert io.checksum({"w": a}) != io.checksum({"v": a})  # and the name


def test_tensor_file_round_trip_and_checksum(tmp_path):
    path = tmp_path / "t.safetensors"
    io.write_tensor_file(path, {"a": np.arange(3.0), "s": np.array(2, np.int64)}, {"k": "v"})
    p, header, tensors = file = io.read_tensor_file(path)
    assert p == str(path) and header["k"] == "v" and header["checksum"].startswith("sha256/file:")
    assert file.scheme == "file" and file.header is header and file.tensors is tensors
    assert tensors["s"].shape == () and np.array_equal(tensors["a"], np.arange(3.0))
    assert io.read_tensor_file(path, tensors=False)[2] == {}
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="does not match its checksum"):
        io.read_tensor_file(path)
    foreign = tmp_path / "foreign.safetensors"  # no checksum: read as it is
    safetensors.numpy.save_file({"w": np.ones(2, np.float32)}, str(foreign))
    assert np.array_equal(io.read_tensor_file(foreign)[2]["w"], np.ones(2))
    assert io.read_tensor_file(foreign).scheme is None
