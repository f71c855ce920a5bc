"""dp.export_onnx: every layer type, run by onnxruntime on random inputs of other batch sizes
than the example's, must give the model's eval-mode outputs to 1e-5; and the bad inputs."""

from __future__ import annotations

import os

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn
from deltaprop.errors import ConfigError, ShapeError
from deltaprop.nn.module import Module
from deltaprop.onnx import exportable
from deltaprop.onnx.layers import CONTAINERS, CONVERTERS, REFUSED

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

TOL = 1e-5


def _warm(model: Module, shape: tuple[int, ...], rng: np.random.Generator) -> None:
    """A few training-mode passes, so batch norm's running statistics are not 0 and 1."""
    model.train()
    with dp.no_grad():
        for _ in range(3):
            model(dp.tensor(rng.standard_normal((8, *shape)) * 2 + 0.5))
    model.eval()


def roundtrip(model, shape, tmp_path, integers: int | None = None, warm: bool = True):
    """Export with a batch of 2, run batches of 5 and 1 in onnxruntime (5 and 3 for batch
    norm on batch statistics, which needs 2 rows), compare with the model; returns the
    largest difference seen."""
    batch_stats = any(getattr(m, "running_mean", 0) is None for m in model.modules())
    rng = np.random.default_rng(0)
    if warm:
        _warm(model, shape, rng)

    def batch(n):
        if integers is not None:
            return rng.integers(0, integers, (n, *shape)).astype(np.int64)
        return rng.standard_normal((n, *shape)).astype(np.float32)

    path = tmp_path / "model.onnx"
    proto = dp.export_onnx(model, path, batch(2))
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for n in (5, 3 if batch_stats else 1):  # not the example's 2: the batch axis is dynamic
        x = batch(n)
        got = session.run(None, {"input": x})[0]
        with model.evaluating(), dp.no_grad():
            want = model(dp.tensor(x) if integers is None else x).numpy()
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=TOL, atol=TOL)
        worst = max(worst, float(np.abs(got - want).max()))
    return worst


def _conv(*args, **kw):
    return nn.Conv2d(*args, init="he", **kw)


# (id, model factory, one input's shape): at least one case per layer class of nn.LAYERS.
CASES = [
    ("linear", lambda: nn.Sequential(nn.Linear(6, 4)), (6,)),
    ("linear_no_bias", lambda: nn.Linear(6, 4, bias=False), (6,)),
    ("linear_3d_matmul", lambda: nn.Linear(6, 4), (3, 6)),
    ("relu", lambda: nn.Sequential(nn.Linear(5, 7), nn.ReLU()), (5,)),
    ("leaky_relu", lambda: nn.Sequential(nn.Linear(5, 7), nn.LeakyReLU(0.2)), (5,)),
    ("elu", lambda: nn.Sequential(nn.Linear(5, 7), nn.ELU(0.7)), (5,)),
    ("gelu", lambda: nn.Sequential(nn.Linear(5, 7), nn.GELU()), (5,)),
    ("gelu_tanh", lambda: nn.Sequential(nn.Linear(5, 7), nn.GELU("tanh")), (5,)),
    ("sigmoid", lambda: nn.Sequential(nn.Linear(5, 7), nn.Sigmoid()), (5,)),
    ("tanh", lambda: nn.Sequential(nn.Linear(5, 7), nn.Tanh()), (5,)),
    ("softmax", lambda: nn.Sequential(nn.Linear(5, 7), nn.Softmax()), (5,)),
    ("log_softmax_axis1", lambda: nn.Sequential(nn.Conv2d(2, 3, 1), nn.LogSoftmax(1)), (2, 4, 4)),
    ("dropout", lambda: nn.Sequential(nn.Linear(5, 7), nn.Dropout(0.5), nn.Linear(7, 2)), (5,)),
    ("identity", lambda: nn.Sequential(nn.Identity(), nn.Linear(5, 2)), (5,)),
    ("batchnorm1d", lambda: nn.Sequential(nn.Linear(5, 7), nn.BatchNorm1d(7)), (5,)),
    ("batchnorm1d_3d", lambda: nn.BatchNorm1d(3), (3, 6)),
    ("batchnorm1d_no_affine", lambda: nn.BatchNorm1d(4, affine=False), (4,)),
    ("batchnorm1d_batch_stats", lambda: nn.BatchNorm1d(4, track_running_stats=False), (4,)),
    ("batchnorm2d", lambda: nn.Sequential(_conv(2, 3, 3), nn.BatchNorm2d(3)), (2, 6, 6)),
    ("batchnorm2d_batch_stats", lambda: nn.BatchNorm2d(2, track_running_stats=False), (2, 5, 5)),
    ("layernorm", lambda: nn.Sequential(nn.Linear(5, 7), nn.LayerNorm(7)), (5,)),
    ("layernorm_3_axes", lambda: nn.LayerNorm((2, 4, 4), bias=False), (2, 4, 4)),
    ("layernorm_no_affine", lambda: nn.LayerNorm(6, elementwise_affine=False), (6,)),
    ("conv2d", lambda: _conv(3, 4, 3, padding=1), (3, 7, 7)),
    (
        "conv2d_strided_dilated",
        lambda: _conv(2, 3, (3, 2), stride=2, padding=(2, 1), dilation=2, bias=False),
        (2, 9, 8),
    ),  # fmt: skip
    ("maxpool2d", lambda: nn.MaxPool2d(3, stride=2, padding=1), (2, 7, 7)),
    ("avgpool2d", lambda: nn.AvgPool2d(2), (2, 6, 6)),
    ("avgpool2d_padding_counted", lambda: nn.AvgPool2d(3, stride=1, padding=1), (2, 5, 5)),
    (
        "adaptive_avg_pool2d",
        lambda: nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()),
        (3, 5, 4),
    ),
    ("global_avg_pool2d", lambda: nn.Sequential(nn.GlobalAvgPool2d(), nn.Flatten()), (3, 5, 4)),
    ("flatten", lambda: nn.Sequential(nn.Flatten(), nn.Linear(18, 2)), (2, 3, 3)),
    ("flatten_from_axis_2", lambda: nn.Flatten(2), (2, 3, 3)),
    ("unflatten", lambda: nn.Sequential(nn.Linear(5, 12), nn.Unflatten((3, 2, 2))), (5,)),
    ("upsample", lambda: nn.Sequential(nn.Upsample(), _conv(2, 3, 3, padding=1)), (2, 3, 5)),
    ("residual_identity", lambda: nn.Residual(nn.Sequential(nn.Linear(5, 5), nn.Tanh())), (5,)),
    (
        "residual_projection",
        lambda: nn.Residual(nn.Linear(5, 8), nn.Linear(5, 8, bias=False)),
        (5,),
    ),
    (
        "residual_conv",
        lambda: nn.Residual(
            nn.Sequential(_conv(2, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4)),
            _conv(2, 4, 1, stride=2),
        ),
        (2, 6, 6),
    ),  # fmt: skip
    (
        "checkpointed",
        lambda: nn.Sequential(
            nn.Checkpointed(nn.Sequential(nn.Linear(5, 6), nn.ReLU())), nn.Linear(6, 2)
        ),
        (5,),
    ),  # fmt: skip
    (
        "nested_sequential",
        lambda: nn.Sequential(nn.Sequential(nn.Linear(4, 4), nn.ELU()), nn.Linear(4, 3)),
        (4,),
    ),  # fmt: skip
    (
        "mlp_residual_batchnorm",
        lambda: nn.mlp(8, (16, 16), 3, "gelu", "he", dropout=0.1, norm="batchnorm", residual=True),
        (8,),
    ),  # fmt: skip
    (
        "cnn",
        lambda: nn.cnn((1, 8, 8), 4, channels=(4, 6), hidden=(10,), batchnorm=True, residual=True),
        (1, 8, 8),
    ),  # fmt: skip
]


@pytest.mark.parametrize("make, shape", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_onnxruntime_reproduces_each_layer(make, shape, tmp_path):
    dp.seed(3)
    assert roundtrip(make(), shape, tmp_path) <= TOL


def test_embedding_takes_integer_or_whole_float_indices(tmp_path):
    dp.seed(0)
    model = nn.Sequential(nn.Embedding(7, 3), nn.Flatten(), nn.Linear(12, 2))
    assert roundtrip(model, (4,), tmp_path, integers=7, warm=False) <= TOL
    proto = dp.export_onnx(model, tmp_path / "f.onnx", np.array([[0.0, 1, 2, 3]]))
    session = ort.InferenceSession(proto.SerializeToString())
    idx = np.array([[6, 0, 2, 2], [1, 1, 5, 3]])
    got = session.run(None, {"input": idx.astype(np.float32)})[0]
    np.testing.assert_allclose(got, model(idx).numpy(), rtol=TOL, atol=TOL)


def test_float64_models_export_in_float64(tmp_path):
    dp.seed(1)
    model = nn.Sequential(
        nn.Linear(4, 6, dtype="float64"), nn.Tanh(), nn.Linear(6, 2, dtype="float64")
    )
    x = np.random.default_rng(0).standard_normal((3, 4))
    proto = dp.export_onnx(model, tmp_path / "m.onnx", x)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    got = ort.InferenceSession(proto.SerializeToString()).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, model(dp.tensor(x, dtype="float64")).numpy(), rtol=1e-12)


def test_every_registered_layer_has_an_onnx_form():
    # a layer added to nn.LAYERS without a converter would fail only when someone exports it
    missing = {
        name
        for name, cls in nn.LAYERS.items()
        if cls not in CONVERTERS and cls not in CONTAINERS and name not in REFUSED
    }
    assert not missing
    assert "Conv2d" in exportable() and "Residual" in exportable()


def test_export_leaves_the_model_in_its_mode_and_unchanged(tmp_path):
    dp.seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    model.train()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    dp.export_onnx(model, tmp_path / "m.onnx", np.ones((2, 3)))
    assert model.training
    after = model.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)


# --- bad input ------------------------------------------------------------------------------


class Squash(Module):  # a user's layer: registered (so model files can name it), no ONNX form
    def forward(self, x):
        return x * 0.5

    def get_config(self):
        return {}


def test_a_layer_without_an_onnx_form_is_named(tmp_path):
    model = nn.Sequential(nn.Linear(3, 3), nn.Residual(nn.Sequential(Squash())))
    with pytest.raises(
        ConfigError,
        match=r"layer '1.block.0' is a .*Squash, which has no ONNX form; layers that export: "
        r".*Conv2d",
    ):
        dp.export_onnx(model, tmp_path / "m.onnx", np.ones((1, 3)))
    assert not os.listdir(tmp_path)  # nothing written, not even a temporary


def test_bad_arguments(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2))
    with pytest.raises(ConfigError, match="model: expected a deltaprop Module"):
        dp.export_onnx("model", tmp_path / "m.onnx", np.ones((1, 3)))
    with pytest.raises(
        ShapeError, match=r"example_input: the model does not run on a batch of shape \(1, 4\)"
    ):
        dp.export_onnx(model, tmp_path / "m.onnx", np.ones((1, 4)))
    with pytest.raises(ShapeError, match="example_input: expected a batch"):
        dp.export_onnx(model, tmp_path / "m.onnx", np.ones((0, 3)))
    with pytest.raises(ConfigError, match="example_input: expected finite values"):
        dp.export_onnx(model, tmp_path / "m.onnx", np.full((1, 3), np.nan))
    with pytest.raises(ConfigError, match="example_input: expected numbers"):
        dp.export_onnx(model, tmp_path / "m.onnx", np.array([["a", "b", "c"]]))
    with pytest.raises(ConfigError, match="path: .* is a folder"):
        dp.export_onnx(model, tmp_path, np.ones((1, 3)))
    with pytest.raises(ConfigError, match="path: folder does not exist"):
        dp.export_onnx(model, tmp_path / "no" / "m.onnx", np.ones((1, 3)))
    assert not os.listdir(tmp_path)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_an_unwritable_path_fails_before_any_work():
    with pytest.raises(ConfigError, match="path: cannot create a file in /proc"):
        dp.export_onnx(nn.Linear(3, 2), "/proc/m.onnx", np.ones((1, 3)))


def test_an_existing_file_is_replaced_whole_or_left_alone(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old")
    with pytest.raises(ConfigError):
        dp.export_onnx(nn.Sequential(Squash()), path, np.ones((1, 3)))
    assert path.read_bytes() == b"old"
    dp.export_onnx(nn.Linear(3, 2), path, np.ones((1, 3)))
    assert onnx.load(str(path)).graph.output[0].name == "output"


def test_a_missing_onnx_package_names_the_extra(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "onnx", None)  # what an install without the extra sees
    with pytest.raises(
        ConfigError, match=r"export_onnx: needs onnx.*pip install deltaprop\[onnx\]"
    ):
        dp.export_onnx(nn.Linear(3, 2), tmp_path / "m.onnx", np.ones((1, 3)))


def test_a_gan_pair_is_refused_naming_what_to_export(tmp_path):
    from deltaprop.gan import GANNetworks

    pair = GANNetworks(nn.Sequential(nn.Linear(3, 4)), nn.Sequential(nn.Linear(4, 1)))
    with pytest.raises(dp.ConfigError, match="GANNetworks: .*export one of them"):
        dp.export_onnx(pair, tmp_path / "gan.onnx", np.zeros((2, 3), np.float32))
    assert not (tmp_path / "gan.onnx").exists()
