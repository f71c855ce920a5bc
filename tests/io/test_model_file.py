"""Model files: round trips, metadata, and every way a file can be wrong."""

import json
import os
import struct

import numpy as np
import pytest
import safetensors.numpy

import deltaprop as dp
from deltaprop import io, nn
from deltaprop.errors import ConfigError, ModelFileError


def make_model():
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(6, 8, init="he"),
        nn.LeakyReLU(0.2),
        nn.Dropout(0.3),
        nn.Linear(8, 8, bias=False, init="xavier"),
        nn.Sequential(nn.GELU("tanh"), nn.Identity()),
        nn.Linear(8, 3, bias_init="torch_default"),
        nn.LogSoftmax(axis=1),
    )


X = np.random.default_rng(0).normal(size=(5, 2, 3)).astype(np.float32)


@pytest.fixture
def saved(tmp_path):
    dp.seed(0)
    model = make_model()
    path = tmp_path / "model.safetensors"
    io.save(model, path, metadata={"dataset": "wine", "mean": np.arange(3.0)})
    return model, path


def _expect_error(path, match=None):
    with pytest.raises(ModelFileError, match=match) as info:
        io.load(path)
    assert str(path) in str(info.value)
    return info.value


def test_round_trip_predictions_and_structure(saved):
    model, path = saved
    loaded = io.load(path)
    assert repr(loaded) == repr(model)
    assert io.architecture(loaded) == io.architecture(model)
    assert not loaded.training  # ready for inference
    model.eval()
    assert np.array_equal(loaded(X).numpy(), model(X).numpy())
    for (n1, p1), (n2, p2) in zip(model.named_parameters(), loaded.named_parameters()):
        assert n1 == n2 and p1.dtype == p2.dtype and np.array_equal(p1.numpy(), p2.numpy())


def test_architecture_json_and_header(saved):
    _, path = saved
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as f:
        meta = f.metadata()
        keys = list(f.keys())
    assert meta["format"] == "deltaprop" and meta["version"] == "1"
    arch = json.loads(meta["architecture"])
    assert arch["class"] == "Sequential"
    assert arch["layers"][1] == {
        "class": "Linear",
        "config": {"in_features": 6, "out_features": 8, "bias": True, "init": "he",
                   "bias_init": "zeros", "dtype": "float32"},
    }  # fmt: skip
    assert arch["layers"][5]["class"] == "Sequential"
    assert sorted(keys) == sorted(["1.weight", "1.bias", "4.weight", "6.weight", "6.bias"])


def test_float64_and_shared_layers_round_trip(tmp_path):
    shared = nn.Linear(3, 3, dtype="float64")
    model = nn.Sequential(shared, nn.Tanh(), shared)
    path = tmp_path / "tied.safetensors"
    io.save(model, str(path))
    loaded = io.load(str(path))
    assert loaded[0] is loaded[2] and loaded[0].weight.dtype == np.float64
    x = np.ones((2, 3))
    assert np.array_equal(loaded(x).numpy(), model(x).numpy())


def test_metadata(saved, tmp_path):
    _, path = saved
    expected = {"dataset": "wine", "mean": [0.0, 1.0, 2.0]}
    assert io.read_metadata(path) == expected
    model, meta = io.load(path, return_metadata=True)
    assert meta == expected and isinstance(model, nn.Sequential)
    plain = tmp_path / "plain.safetensors"
    io.save(nn.Linear(2, 2), plain)
    assert io.read_metadata(plain) == {}


def test_bad_metadata_writes_nothing(tmp_path):
    path = tmp_path / "m.safetensors"
    with pytest.raises(ConfigError, match="metadata"):
        io.save(nn.Linear(2, 2), path, metadata={"f": object()})
    with pytest.raises(ConfigError, match="metadata"):
        io.save(nn.Linear(2, 2), path, metadata=["not", "a", "dict"])
    with pytest.raises(ConfigError, match="model"):
        io.save("model", path)
    assert os.listdir(tmp_path) == []


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


def test_flipped_data_byte_fails_the_checksum(saved, tmp_path):
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
    path.write_bytes(safetensors.numpy.save(tensors, metadata=metadata))
    return path


def _header(arch, **extra):
    return {"format": "deltaprop", "version": "1", "architecture": json.dumps(arch), **extra}


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
    future = _write(tmp_path / "c.safetensors", WEIGHTS, _header(LINEAR, version="2"))
    _expect_error(future, "version '2'")
    # a foreign file with matching names still loads into a model built in code
    layer = io.load_weights(nn.Linear(2, 3), other)
    assert np.array_equal(layer.weight.numpy(), WEIGHTS["weight"])


def test_hand_made_file_loads(tmp_path):
    layer = io.load(_write(tmp_path / "ok.safetensors", WEIGHTS, _header(LINEAR)))
    assert isinstance(layer, nn.Linear) and np.all(layer.weight.numpy() == 1.0)


def test_bad_architectures(tmp_path):
    def check(name, arch, match, tensors=WEIGHTS):
        meta = _header(arch) if not isinstance(arch, str) else dict(_header({}), architecture=arch)
        _expect_error(_write(tmp_path / name, tensors, meta), match)

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
        _expect_error(_write(tmp_path / name, tensors, _header(LINEAR)), match)

    check("shape.st", dict(WEIGHTS, weight=np.ones((3, 2), np.float32)), r"\(2, 3\).*\(3, 2\)")
    check("missing.st", {"weight": WEIGHTS["weight"]}, "missing.*bias")
    check("extra.st", dict(WEIGHTS, extra=np.ones(1, np.float32)), "unexpected.*extra")


def test_load_weights_into_a_model_built_in_code(saved):
    model, path = saved
    dp.seed(99)
    fresh = make_model()
    assert io.load_weights(fresh, path) is fresh
    model.eval()
    fresh.eval()
    assert np.array_equal(fresh(X).numpy(), model(X).numpy())


def test_load_weights_mismatch_leaves_the_model_unchanged(saved):
    _, path = saved
    other = nn.Sequential(nn.Flatten(), nn.Linear(6, 8), nn.ReLU())
    before = {k: v.copy() for k, v in other.state_dict().items()}
    with pytest.raises(ModelFileError, match="do not match this model"):
        io.load_weights(other, path)
    # same names, one shape differs: (8, 4) for the file's (8, 3)
    wrong_shape = nn.Sequential(*[make_model()[i] for i in range(6)], nn.Linear(8, 4))
    before2 = {k: v.copy() for k, v in wrong_shape.state_dict().items()}
    with pytest.raises(ModelFileError, match=r"6\.(weight|bias)"):
        io.load_weights(wrong_shape, path)
    for model, snapshot in [(other, before), (wrong_shape, before2)]:
        for k, v in model.state_dict().items():
            assert np.array_equal(v, snapshot[k])


class Residual(nn.Module):
    """A custom layer with a child and a constructor argument."""

    def __init__(self, width):
        super().__init__()
        self.width = width
        self.fc = nn.Linear(width, width)

    def forward(self, x):
        return x + self.fc(x)

    def get_config(self):
        return {"width": self.width}


def test_custom_layers_need_registering(tmp_path, monkeypatch):
    monkeypatch.setattr(nn, "LAYERS", dict(nn.LAYERS))  # keep the registry clean
    model = nn.Sequential(nn.Linear(2, 4), Residual(4))
    path = tmp_path / "custom.safetensors"
    io.save(model, path)  # the weights are written even so
    error = _expect_error(path, "Residual")
    assert "load_weights" in str(error) and "register_layer" in str(error)
    rebuilt = io.load_weights(nn.Sequential(nn.Linear(2, 4), Residual(4)), path)
    x = np.ones((1, 2), np.float32)
    assert np.array_equal(rebuilt(x).numpy(), model(x).numpy())

    assert nn.register_layer(Residual) is Residual
    io.save(model, path)
    loaded = io.load(path)
    assert isinstance(loaded[1], Residual) and np.array_equal(loaded(x).numpy(), model(x).numpy())


def test_register_layer_rules(monkeypatch):
    monkeypatch.setattr(nn, "LAYERS", dict(nn.LAYERS))

    @nn.register_layer(name="Block")
    class Block(nn.Module):
        pass

    assert nn.LAYERS["Block"] is Block and nn.layer_name(Block) == "Block"
    assert nn.register_layer(Block, name="Block") is Block  # again: a no-op

    class Linear(nn.Module):  # a different class under a taken name
        pass

    with pytest.raises(ConfigError, match="taken"):
        nn.register_layer(Linear)
    with pytest.raises(ConfigError, match="Module subclass"):
        nn.register_layer(int)


def test_unregistered_class_with_a_registered_name_is_not_confused(tmp_path, monkeypatch):
    class ReLU(nn.Module):  # shadows nn.ReLU's name, but is another class
        def forward(self, x):
            return x * 2

    path = tmp_path / "shadow.safetensors"
    io.save(nn.Sequential(ReLU()), path)
    _expect_error(path, "not a registered layer")


def test_failed_save_leaves_the_old_file_intact(saved, monkeypatch):
    _, path = saved
    original = path.read_bytes()
    folder = path.parent
    other = nn.Sequential(nn.Linear(2, 2))

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)  # fails after the data is written
    with pytest.raises(ModelFileError, match="No space left"):
        io.save(other, path)
    monkeypatch.undo()
    assert path.read_bytes() == original
    assert sorted(os.listdir(folder)) == ["model.safetensors"]  # temporary file removed

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        io.save(other, path)
    monkeypatch.undo()
    assert path.read_bytes() == original
    assert sorted(os.listdir(folder)) == ["model.safetensors"]
    assert np.array_equal(io.load(path).state_dict()["1.weight"], saved[0][1].weight.numpy())

    io.save(other, path)  # and a working save replaces it
    assert isinstance(io.load(path)[0], nn.Linear) and len(io.load(path)) == 1
