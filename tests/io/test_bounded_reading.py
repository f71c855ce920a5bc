"""Reading a file never costs more than the file (issue 9, items 2 and 3): JSON is bounded in
depth and size before it is parsed, claimed sizes are checked against the real file before
anything is allocated, the checksum is verified by streaming, and a FIFO is refused instead of
blocking."""

import contextlib
import json
import os
import struct
import subprocess
import tracemalloc

import numpy as np
import pytest
import safetensors.numpy

import deltaprop as dp
from deltaprop import io, nn, optim
from deltaprop.errors import ConfigError, ModelFileError
from deltaprop.io import codec
from deltaprop.io.architecture import MAX_NESTING
from deltaprop.train import state as training_state

MiB = 2**20


# --- JSON, bounded ----------------------------------------------------------------------------


def _nested(depth, leaf="0"):
    return "[" * depth + leaf + "]" * depth


def test_parse_json_bounds_depth_and_size_before_parsing():
    assert codec.parse_json('{"a": [1, {"b": "[[[{{{"}]}', "x") == {"a": [1, {"b": "[[[{{{"}]}
    assert codec.json_depth('"[[[\\"[["') == 0 and codec.json_depth("[[],[[]]]") == 3
    assert codec.json_depth('["x\\') == 1  # an unterminated string: skipped to the end
    assert codec.parse_json(_nested(64), "x") == json.loads(_nested(64))
    for depth in [65, 1000, 100_000]:  # 100,000: json.loads alone raises RecursionError
        with pytest.raises(ModelFileError, match="the state is nested more than 64 levels"):
            codec.parse_json(_nested(depth), "the state")
    with pytest.raises(ModelFileError, match="more than the 10 allowed"):
        codec.parse_json('"' + "a" * 20 + '"', "the text", max_chars=10)
    with pytest.raises(ModelFileError, match="the metadata is not valid JSON"):
        codec.parse_json("{not json", "the metadata")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        codec.parse_json("9" * 5000, "the metadata")  # more digits than int() converts


def _write(path, version, arch_text, metadata_text=None):
    """A model file with a valid checksum: version "2" the whole file's, "1" 0.1.0's."""
    header = {"format": "deltaprop", "version": version, "architecture": arch_text}
    if metadata_text is not None:
        header["metadata"] = metadata_text
    if version == "2":
        io.write_tensor_file(path, {}, header)
    else:
        header["checksum"] = io.checksum({})
        path.write_bytes(safetensors.numpy.save({}, metadata=header))
    return path


@pytest.mark.filterwarnings("ignore:.*0.1.0")
@pytest.mark.parametrize("version", ["1", "2"])
def test_a_deeply_nested_architecture_or_metadata_is_a_model_file_error(tmp_path, version):
    deep = '{"class": "Sequential", "layers": [' * 1000 + "]}" * 1000
    path = _write(tmp_path / "deep.safetensors", version, deep)
    with pytest.raises(ModelFileError, match="corrupt file: the architecture is nested more"):
        io.load(path)
    flat = json.dumps({"class": "Sequential", "layers": []})
    path = _write(tmp_path / "meta.safetensors", version, flat, '{"a": ' + _nested(1000) + "}")
    for call in [lambda: io.read_metadata(path), lambda: io.load(path, return_metadata=True)]:
        with pytest.raises(ModelFileError, match="the user metadata is nested more") as info:
            call()
        assert str(path) in str(info.value)


def test_build_and_save_bound_the_nesting(tmp_path):
    tree = {"class": "ReLU", "config": {}}
    for _ in range(1000):
        tree = {"class": "Sequential", "layers": [tree]}
    with pytest.raises(ConfigError, match="nested more than 30 levels"):
        io.build(tree)  # not a RecursionError
    model = nn.ReLU()
    for _ in range(MAX_NESTING):
        model = nn.Sequential(model)
    path = tmp_path / "deep.safetensors"
    io.save(model, path)  # the deepest nesting a file holds is read back
    assert repr(io.load(path)) == repr(model)
    with pytest.raises(ConfigError, match="nested more than 30 levels"):
        io.save(nn.Sequential(model), tmp_path / "deeper.safetensors")
    with pytest.raises(ConfigError, match="metadata: as JSON it is nested more than 64"):
        io.save(nn.ReLU(), tmp_path / "m.safetensors", metadata={"a": json.loads(_nested(80))})
    assert sorted(os.listdir(tmp_path)) == ["deep.safetensors"]


def test_a_deeply_nested_training_state_is_a_model_file_error(tmp_path):
    text = '{"epoch": ' + _nested(5000) + "}"
    path = tmp_path / "state.ckpt"
    header = {"format": training_state.FORMAT, "version": training_state.VERSION, "state": text,
              "state_checksum": io.checksum(text)}  # fmt: skip
    io.write_tensor_file(path, {}, header)
    with pytest.raises(ModelFileError, match="corrupt checkpoint: the state is nested more"):
        training_state.read(str(path))


# --- claimed sizes, checked before allocating -------------------------------------------------


def _raw_file(path, entries, metadata, data_size, sparse=False):
    """A safetensors file with this header and ``data_size`` bytes of zeros as data."""
    header = dict(entries, __metadata__=metadata)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        if sparse:
            f.truncate(8 + len(text) + data_size)  # a hole: no disk blocks, reads as zeros
        else:
            f.write(bytes(data_size))
    return path


@contextlib.contextmanager
def _peak_memory():
    """Yields a dict whose "peak" is the most memory (bytes) allocated in the block."""
    result = {}
    tracemalloc.start()
    try:
        yield result
    finally:
        result["peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


def test_an_8_kib_file_claiming_a_1_gib_tensor_is_refused_cheaply(tmp_path):
    entries = {"w": {"dtype": "F32", "shape": [2**28], "data_offsets": [0, 2**30]}}
    meta = {"format": "deltaprop", "version": "2", "architecture": "{}"}
    path = _raw_file(tmp_path / "claim.safetensors", entries, meta, 8192 - 256)
    with _peak_memory() as memory:
        for call in [io.load, io.read_metadata, lambda p: io.load_weights(nn.ReLU(), p)]:
            with pytest.raises(ModelFileError, match=r"'w': bytes 0\.\.1073741824, outside"):
                call(path)
    assert memory["peak"] < 1 * MiB


def test_header_entries_that_do_not_fit_the_file_are_refused(tmp_path):
    def check(entries, match, data_size=16):
        path = _raw_file(tmp_path / "bad.safetensors", entries, {}, data_size)
        with pytest.raises(ModelFileError, match=match):
            io.read_tensor_file(path)

    check({"w": {"dtype": "F32", "shape": [5], "data_offsets": [0, 16]}}, r"float32 \(5,\) is 20")
    check({"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}, "bytes 0..8 .* unused")
    check({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, "cover 8 bytes of the 16")
    check({"w": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}}, "shape")
    check({"w": {"dtype": "X9", "shape": [4], "data_offsets": [0, 16]}}, "dtype 'X9'")
    check({"w": {"dtype": "F32", "shape": [4], "data_offsets": [16, 0]}}, "outside")
    check({"w": [1, 2]}, "not an object")
    path = tmp_path / "length.safetensors"
    path.write_bytes(struct.pack("<Q", 2**40) + b"{}")  # a header longer than the file
    with pytest.raises(ModelFileError, match="claims 1099511627776 bytes, the file holds 2"):
        io.load(path)
    with open(path, "wb") as f:  # 200 MB, sparse: a header longer than safetensors allows
        f.write(struct.pack("<Q", 150_000_000))
        f.truncate(200_000_000)
    with _peak_memory() as memory, pytest.raises(ModelFileError, match="more than the"):
        io.load(path)
    assert memory["peak"] < 1 * MiB


def test_a_corrupt_sparse_file_is_refused_by_streaming_the_checksum(tmp_path):
    # Its apparent size really is 64 MiB (a hole reads as zeros): legitimately that big, but
    # the checksum is verified before any tensor is allocated.
    n = 64 * MiB
    entries = {"w": {"dtype": "F32", "shape": [n // 4], "data_offsets": [0, n]}}
    meta = {"format": "deltaprop", "version": "2", "architecture": "{}",
            "checksum": "sha256/file:" + "0" * 64}  # fmt: skip
    path = _raw_file(tmp_path / "sparse.safetensors", entries, meta, n, sparse=True)
    with _peak_memory() as memory, pytest.raises(ModelFileError, match="does not match"):
        io.load(path)
    assert memory["peak"] < 4 * MiB


def test_a_large_valid_file_is_held_once(tmp_path):
    n = 16 * MiB
    path = tmp_path / "big.safetensors"
    io.write_tensor_file(path, {"w": np.zeros(n // 4, np.float32)}, {"k": "v"})
    with _peak_memory() as memory:
        tensors = io.read_tensor_file(path)[2]
    assert tensors["w"].nbytes == n and not tensors["w"].any()
    assert memory["peak"] < 1.25 * n  # the array itself, no copy for the checksum


# --- files that are not regular files ---------------------------------------------------------


@contextlib.contextmanager
def _fifo(tmp_path):
    """A FIFO. Should a reader block on it (the bug), a helper process opens and closes it
    every few seconds, so that the test fails on the message instead of hanging (a thread
    cannot: safetensors held the GIL while it blocked)."""
    path = tmp_path / "pipe.safetensors"
    os.mkfifo(path)
    # ':' with a read-write redirection opens the FIFO without blocking, then closes it
    release = 'for i in 1 2 3 4 5 6 7 8; do sleep 4; : 3<>"$1"; done'
    helper = subprocess.Popen(["sh", "-c", release, "sh", str(path)])
    try:
        yield path
    finally:
        helper.kill()
        helper.wait()


@pytest.mark.slow  # a helper process
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    with _fifo(tmp_path) as path:
        calls = [io.load, io.read_metadata, lambda p: io.load_weights(nn.ReLU(), p)]
        for call in calls:
            with pytest.raises(ModelFileError, match="is a FIFO"):
                call(path)
        dp.seed(0)
        model = nn.Linear(2, 1)
        trainer = dp.Trainer(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1))
        X = np.zeros((4, 2), np.float32)
        with pytest.raises(ModelFileError, match="is a FIFO"):
            trainer.fit(X, np.zeros((4, 1), np.float32), epochs=1, verbose=False, resume_from=path)
    for device in ["/dev/zero", "/dev/null"]:
        if os.path.exists(device):
            with pytest.raises(ModelFileError, match="not a regular file"):
                io.load(device)
