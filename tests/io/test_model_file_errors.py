"""Model files: every way a file can be wrong is a ModelFileError naming the path and why."""

import json
import os
import struct

import numpy as np
import pytest
import safetensors.numpy

from deltaprop import io, nn
from deltaprop.errors import ModelFileError


def _expect_error(path, match=None):
    with pytest.raises(ModelFileError, match=match) as info:
        io.load(path)
    assert str(path) in str(info.value)
    return info.value


def test_missing_file_and_folder(tmp_path):
    _expect_error(tmp_path / "nope.safetensors", "no such file")
    _expect_error(tmp_path, "folder")
    with pytest.raises(ModelFileError, match="no such file"):
        io.read_metadata(tmp_path / "nope.safetensors")
    with pytest.raises(ModelFileError, match="does not exist"):
        io.save(nn.ReLU(), tmp_path / "no_dir" / "m.safetensors")


def test_truncations_are_model_file_errors(saved, tmp_path):
    _, path = saved
    data = path.read_bytes()
    bad = tmp_path / "cut.safetensors"
    for n in range(0, len(data), 29):
        bad.write_bytes(data[:n])
        _expect_error(bad)
    bad.write_bytes(data[:-1])
    _expect_error(bad, "truncated or corrupt")


def test_flipped_header_bytes_are_model_file_errors(saved, tmp_path):
    _, path = saved
    data = path.read_bytes()
    header_end = 8 + struct.unpack("<Q", data[:8])[0]
    bad = tmp_path / "flipped.safetensors"
    for i in [*range(8), *range(8, header_end, 11)]:  # the length field, then every 11th
        corrupt = bytearray(data)
        corrupt[i] ^= 0xFF
        bad.write_bytes(bytes(corrupt))
        _expect_error(bad)


def test_flipped_data_byte_fails_the_checksum(saved, tmp_path, make_model):
    model, path = saved
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01
    bad = tmp_path / "flipped.safetensors"
    bad.write_bytes(bytes(data))
    _expect_error(bad, "checksum")
    with pytest.raises(ModelFileError, match="checksum"):
        io.load_weights(make_model(), bad)


def test_garbage_and_empty_files(tmp_path):
    for content in [b"", b"hello, I am not a model", os.urandom(300)]:
        bad = tmp_path / "bad.safetensors"
        bad.write_bytes(content)
        _expect_error(bad)


def _write(path, tensors, metadata):
    """A file as another program writes it: no checksum added."""
    path.write_bytes(safetensors.numpy.save(tensors, metadata=metadata))
    return path


def _write_ours(path, tensors, metadata):
    """A hand-made file with a valid whole-file checksum, as dp.save would write it."""
    io.write_tensor_file(path, tensors, metadata)
    return path


def _header(arch, **extra):
    return {"format": "deltaprop", "version": "2", "architecture": json.dumps(arch), **extra}


LINEAR = {
    "class": "Linear",
    "config": {"in_features": 2, "out_features": 3, "bias": True, "init": "zeros",
               "bias_init": "zeros", "dtype": "float32"},
}  # fmt: skip
WEIGHTS = {"weight": np.ones((2, 3), np.float32), "bias": np.zeros(3, np.float32)}


def test_foreign_safetensors_files(tmp_path):
    _expect_error(_write(tmp_path / "a.safetensors", WEIGHTS, None), "not a deltaprop model")
    other = _write(tmp_path / "b.safetensors", WEIGHTS, {"format": "pt"})
    _expect_error(other, "not a deltaprop model")
    with pytest.raises(ModelFileError, match="not a deltaprop"):
        io.read_metadata(other)
    future = _write_ours(tmp_path / "c.safetensors", WEIGHTS, _header(LINEAR, version="3"))
    _expect_error(future, "version '3'")
    # a foreign file with matching names still loads into a model built in code
    layer = io.load_weights(nn.Linear(2, 3), other)
    assert np.array_equal(layer.weight.numpy(), WEIGHTS["weight"])


def test_hand_made_file_loads(tmp_path):
    layer = io.load(_write_ours(tmp_path / "ok.safetensors", WEIGHTS, _header(LINEAR)))
    assert isinstance(layer, nn.Linear) and np.all(layer.weight.numpy() == 1.0)


def test_bad_architectures(tmp_path):
    def check(name, arch, match, tensors=WEIGHTS):
        meta = _header(arch) if not isinstance(arch, str) else dict(_header({}), architecture=arch)
        _expect_error(_write_ours(tmp_path / name, tensors, meta), match)

    check("json.st", "{not json", "not valid JSON")
    check("unknown.st", {"class": "Transformer", "config": {}}, "'Transformer'.*register_layer")
    check("evil.st", {"class": "__import__('os')", "config": {}}, "not a registered layer")
    check("noclass.st", {"config": {}}, "class")
    check("layers.st", {"class": "Sequential", "layers": "relu"}, "layers")
    check("badref.st", {"class": "Sequential", "layers": [{"ref": "7"}]}, "refers")
    bad_config = dict(LINEAR, config=dict(LINEAR["config"], in_features=-2))
    check("config.st", bad_config, "in_features")
    unknown_arg = dict(LINEAR, config=dict(LINEAR["config"], units=3))
    check("arg.st", unknown_arg, "units")


def test_weights_that_do_not_match_the_architecture(tmp_path):
    def check(name, tensors, match):
        _expect_error(_write_ours(tmp_path / name, tensors, _header(LINEAR)), match)

    check("shape.st", dict(WEIGHTS, weight=np.ones((3, 2), np.float32)), r"\(2, 3\).*\(3, 2\)")
    check("missing.st", {"weight": WEIGHTS["weight"]}, "missing.*bias")
    check("extra.st", dict(WEIGHTS, extra=np.ones(1, np.float32)), "unexpected.*extra")
