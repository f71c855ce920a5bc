"""Model files: round trips, metadata, load_weights, custom layers, failed saves (the ways a
file can be wrong: test_model_file_errors.py)."""

import json
import os

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import io, nn
from deltaprop.errors import ConfigError, ModelFileError


def _expect_error(path, match=None):
    with pytest.raises(ModelFileError, match=match) as info:
        io.load(path)
    assert str(path) in str(info.value)
    return info.value


def test_round_trip_predictions_and_structure(saved, X):
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
    assert meta["format"] == "deltaprop" and meta["version"] == "2"
    assert meta["checksum"].startswith("sha256/file:")
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


def test_load_weights_into_a_model_built_in_code(saved, make_model, X):
    model, path = saved
    dp.seed(99)
    fresh = make_model()
    assert io.load_weights(fresh, path) is fresh
    model.eval()
    fresh.eval()
    assert np.array_equal(fresh(X).numpy(), model(X).numpy())


def test_load_weights_mismatch_leaves_the_model_unchanged(saved, make_model):
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


class SkipBlock(nn.Module):
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
    model = nn.Sequential(nn.Linear(2, 4), SkipBlock(4))
    path = tmp_path / "custom.safetensors"
    io.save(model, path)  # the weights are written even so
    error = _expect_error(path, "SkipBlock")
    assert "load_weights" in str(error) and "register_layer" in str(error)
    rebuilt = io.load_weights(nn.Sequential(nn.Linear(2, 4), SkipBlock(4)), path)
    x = np.ones((1, 2), np.float32)
    assert np.array_equal(rebuilt(x).numpy(), model(x).numpy())

    assert nn.register_layer(SkipBlock) is SkipBlock
    io.save(model, path)
    loaded = io.load(path)
    assert isinstance(loaded[1], SkipBlock) and np.array_equal(loaded(x).numpy(), model(x).numpy())


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


def test_save_refuses_a_non_finite_model_and_leaves_the_file(saved):
    model, path = saved
    original = path.read_bytes()
    broken = _bn_model()
    broken[0].weight.data[1, 2] = np.nan
    with pytest.raises(ConfigError, match=r"the parameter '0\.weight' holds 1 non-finite") as info:
        io.save(broken, path)
    assert "allow_nonfinite=True" in str(info.value)
    broken = _bn_model()
    broken[1].running_var.data[:] = np.inf  # what a too high learning rate leaves
    with pytest.raises(ConfigError, match=r"the buffer '1\.running_var' holds 4 non-finite"):
        io.save(broken, path, metadata={"a": 1})
    assert path.read_bytes() == original and os.listdir(path.parent) == [path.name]
    with pytest.raises(TypeError):
        io.save(broken, path, None, True)  # allow_nonfinite is keyword-only
    with pytest.raises(ConfigError, match="allow_nonfinite"):
        io.save(broken, path, allow_nonfinite="yes")
    io.save(broken, path, allow_nonfinite=True)  # to look at it: written, and loads as it is
    assert np.isinf(io.load(path).state_dict()["1.running_var"]).all()


def _bn_model():
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
