"""Residual (skip connections) and Embedding (a vector per category): forward and backward by
hand, parameter naming through child modules, PyTorch parity, configs, and errors that name
the layer.

Worked example of a residual block: block = Linear(2, 2) with W = I and b = 0 gives
out = x + x = 2x, and dL/dx = 2 g: one g through the block, one through the shortcut.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, optim
from deltaprop.errors import ConfigError, DataError, ShapeError

RNG = np.random.default_rng(0)


def x64(*shape):
    return dp.tensor(RNG.standard_normal(shape), requires_grad=True, dtype=np.float64)


# --- Residual ------------------------------------------------------------------------------


def test_residual_worked_example():
    block = nn.Linear(2, 2, init="zeros", dtype="float64")
    block.weight.data[:] = np.eye(2)
    res = nn.Residual(block)
    x = dp.tensor([[1.0, -2.0]], requires_grad=True, dtype=np.float64)
    y = res(x)
    assert y.numpy().tolist() == [[2.0, -4.0]]
    y.backward(np.array([[1.0, 3.0]]))
    assert x.grad.numpy().tolist() == [[2.0, 6.0]]
    assert block.weight.grad.numpy().tolist() == [[1.0, 3.0], [-2.0, -6.0]]


def test_residual_children_name_their_parameters_and_state():
    res = nn.Residual(
        nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 6)),
        shortcut=nn.Linear(4, 6, bias=False),
    )
    names = [n for n, _ in res.named_parameters()]
    assert names == [
        "block.0.weight", "block.0.bias", "block.1.weight", "block.1.bias",
        "block.3.weight", "block.3.bias", "shortcut.weight",
    ]  # fmt: skip
    assert "block.1.running_mean" in res.state_dict()
    assert len(res.parameters()) == 7
    model = nn.Sequential(nn.Linear(3, 4), res)
    assert "1.shortcut.weight" in dict(model.named_parameters())
    model.eval()
    assert not res.block[1].training  # train/eval reaches the block
    identity = nn.Residual(nn.Linear(4, 4))
    assert identity.shortcut is None and [n for n, _ in identity.named_parameters()] == [
        "block.weight",
        "block.bias",
    ]


def test_residual_state_dict_round_trip():
    def make():
        return nn.Residual(nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.BatchNorm2d(2)))

    a = make()
    a(RNG.standard_normal((3, 2, 4, 4)).astype(np.float32))
    b = make()
    b.load_state_dict(a.state_dict())
    for (k, u), v in zip(a.state_dict().items(), b.state_dict().values()):
        assert np.array_equal(u, v), k


def test_residual_with_a_conv_projection_matches_pytorch():
    torch = pytest.importorskip("torch")
    ours = nn.Residual(
        nn.Sequential(
            nn.Conv2d(2, 4, 3, stride=2, padding=1, dtype="float64"),
            nn.ReLU(),
            nn.Conv2d(4, 4, 3, padding=1, dtype="float64"),
        ),
        shortcut=nn.Conv2d(2, 4, 1, stride=2, dtype="float64"),
    )

    class TorchResidual(torch.nn.Module):
        def __init__(self):
            super().__init__()
            tnn = torch.nn
            self.block = tnn.Sequential(
                tnn.Conv2d(2, 4, 3, stride=2, padding=1), tnn.ReLU(), tnn.Conv2d(4, 4, 3, padding=1)
            )
            self.shortcut = tnn.Conv2d(2, 4, 1, stride=2)

        def forward(self, x):
            return self.block(x) + self.shortcut(x)

    theirs = TorchResidual().double()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    with torch.no_grad():
        for p, tp in zip(ours.parameters(), theirs.parameters()):
            tp.copy_(torch.from_numpy(p.numpy().copy()))
    x = x64(2, 2, 5, 5)
    xt = torch.tensor(x.numpy(), requires_grad=True)
    y, yt = ours(x), theirs(xt)
    g = RNG.standard_normal(y.shape)
    y.backward(g)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    for p, tp in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_a_deep_residual_mlp_trains():
    dp.seed(0)
    blocks = [nn.Residual(nn.Sequential(nn.Linear(8, 8), nn.ReLU())) for _ in range(6)]
    model = nn.Sequential(nn.Linear(2, 8), *blocks, nn.Linear(8, 2))
    X = RNG.standard_normal((64, 2)).astype(np.float32)
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_residual_shape_mismatch_names_both_shapes_and_suggests_a_projection():
    res = nn.Residual(nn.Linear(16, 32))
    with pytest.raises(ShapeError) as info:
        res(np.zeros((8, 16), dtype=np.float32))
    message = str(info.value)
    assert message.startswith("Residual: the block maps (8, 16) to (8, 32)")
    assert "identity shortcut keeps (8, 16)" in message
    assert "shortcut=Linear(16, 32)" in message
    conv = nn.Residual(nn.Conv2d(16, 32, 3, stride=2, padding=1))
    with pytest.raises(ShapeError, match=r"shortcut=Conv2d\(16, 32, 1, stride=2\)\) \(1x1 conv\)"):
        conv(np.zeros((2, 16, 8, 8), dtype=np.float32))
    wrong = nn.Residual(nn.Linear(4, 6), shortcut=nn.Linear(4, 5))
    with pytest.raises(
        ShapeError, match=r"the block maps \(3, 4\) to \(3, 6\), but the shortcut Linear maps"
    ):
        wrong(np.zeros((3, 4), dtype=np.float32))
    broadcast = nn.Residual(nn.Linear(4, 1))  # (3, 1) + (3, 4) would broadcast: refused
    with pytest.raises(ShapeError, match="Residual"):
        broadcast(np.zeros((3, 4), dtype=np.float32))


def test_residual_arguments_are_checked():
    with pytest.raises(ConfigError, match="block: expected a Module, got function"):
        nn.Residual(lambda x: x)
    with pytest.raises(ConfigError, match="shortcut: expected a Module or None, got int"):
        nn.Residual(nn.ReLU(), shortcut=3)


def test_residual_is_registered_and_describes_its_children():
    assert nn.LAYERS["Residual"] is nn.Residual
    res = nn.Residual(nn.ReLU(), shortcut=nn.Identity())
    assert res.get_config() == {}
    assert nn.Residual.module_args == ("block", "shortcut")
    children = {name: getattr(res, name) for name in nn.Residual.module_args}
    assert isinstance(children["block"], nn.ReLU) and isinstance(children["shortcut"], nn.Identity)
    # Rebuilding from the description: config plus the children, built first.
    rebuilt = nn.Residual(**res.get_config(), **children)
    assert repr(rebuilt) == repr(res)


def test_a_residual_model_saves_and_loads(tmp_path):
    shared = nn.Linear(4, 4)
    model = nn.Sequential(
        nn.Linear(3, 4),
        nn.Residual(nn.Sequential(nn.Linear(4, 4), nn.ReLU()), nn.Identity()),
        nn.Residual(nn.Residual(nn.Sequential(shared, nn.Tanh()))),  # identity shortcuts, nested
        shared,
        nn.Residual(nn.Linear(4, 2), shortcut=nn.Linear(4, 2)),
    )
    path = tmp_path / "res.safetensors"
    dp.save(model, path)
    loaded = dp.load(path)
    x = RNG.standard_normal((2, 3)).astype(np.float32)
    assert np.array_equal(loaded(x).numpy(), model(x).numpy())
    assert loaded[2].block.shortcut is None and loaded[2].shortcut is None
    assert loaded[3] is loaded[2].block.block[0]  # a shared layer stays shared


def test_a_residual_tree_with_wrong_modules_is_refused():
    from deltaprop.errors import ConfigError
    from deltaprop.io import architecture, build

    tree = architecture(nn.Residual(nn.Linear(2, 2)))
    assert set(tree["modules"]) == {"block", "shortcut"}
    for bad in ({}, {"block": None, "shortcut": None, "x": None}, "block", None):
        with pytest.raises(ConfigError):
            build({**tree, "modules": bad})
    with pytest.raises(ConfigError, match="takes no nested 'modules'"):
        build({"class": "Linear", "config": {"in_features": 2, "out_features": 2},
               "modules": {"block": None}})  # fmt: skip


# --- Embedding -----------------------------------------------------------------------------


def test_embedding_looks_up_rows_and_scatters_gradients():
    emb = nn.Embedding(5, 3, dtype="float64")
    idx = np.array([[0, 4, 4], [2, 0, 1]])
    y = emb(idx)
    assert y.shape == (2, 3, 3)
    assert np.array_equal(y.numpy(), emb.weight.numpy()[idx])
    y.backward(np.ones(y.shape))
    assert emb.weight.grad.numpy()[:, 0].tolist() == [2, 1, 1, 0, 2]


def test_embedding_default_init_is_standard_normal_and_config_round_trips():
    emb = nn.Embedding(2000, 8, generator=np.random.default_rng(0))
    w = emb.weight.numpy()
    assert emb.weight.dtype == np.float32 and abs(w.std() - 1) < 0.03 and abs(w.mean()) < 0.03
    config = emb.get_config()
    json.dumps(config)
    assert nn.Embedding(**config).get_config() == config
    assert nn.LAYERS["Embedding"] is nn.Embedding
    he = nn.Embedding(100, 50, init="he", generator=np.random.default_rng(0))
    assert abs(he.weight.numpy().std() / np.sqrt(2 / 50) - 1) < 0.05  # fan_in = embedding_dim


def test_embedding_for_categorical_columns_trains_inside_a_model():
    # Two categorical columns (codes 0..3) as float features, as a Trainer hands them over.
    X = RNG.integers(0, 4, (48, 2)).astype(np.float32)
    y = ((X[:, 0] + X[:, 1]) % 2).astype(np.int64)
    dp.seed(1)
    model = nn.Sequential(nn.Embedding(4, 3), nn.Flatten(), nn.Linear(6, 16), nn.ReLU(),
                          nn.Linear(16, 2))  # fmt: skip
    opt = optim.Adam(model.parameters(), lr=0.05)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(80):
        opt.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        opt.step()
    assert loss.item() < 0.1


def test_embedding_matches_pytorch():
    torch = pytest.importorskip("torch")
    ours = nn.Embedding(6, 4, dtype="float64")
    theirs = torch.nn.Embedding(6, 4).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight.numpy().copy()))
    idx = RNG.integers(0, 6, (3, 5))
    y, yt = ours(idx), theirs(torch.from_numpy(idx))
    g = RNG.standard_normal(y.shape)
    y.backward(g)
    yt.backward(torch.from_numpy(g))
    assert np.array_equal(y.numpy(), yt.detach().numpy())
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-12)
    assert list(ours.state_dict()) == list(theirs.state_dict())


@pytest.mark.parametrize(
    "indices, pattern",
    [
        (
            [0, 10],
            r"^Embedding\(10, 4\): expected indices in 0\.\.9 \(the table has 10 rows\), "
            r"got values in 0\.\.10$",
        ),  # fmt: skip
        (np.array([[-1, 2]]), r"^Embedding\(10, 4\): expected indices in 0\.\.9"),
        (np.array([1.5]), r"^Embedding\(10, 4\): expected integer indices"),
        (np.array([np.nan]), r"^Embedding\(10, 4\): expected integer indices"),
    ],
)
def test_embedding_bad_indices_name_the_layer(indices, pattern):
    emb = nn.Embedding(10, 4)
    with pytest.raises(DataError, match=pattern):
        emb(indices)


def test_embedding_bad_arguments():
    with pytest.raises(ConfigError, match="num_embeddings: expected an integer >= 1, got 0"):
        nn.Embedding(0, 4)
    with pytest.raises(ConfigError, match="embedding_dim"):
        nn.Embedding(3, 2.5)
    with pytest.raises(ConfigError, match="init"):
        nn.Embedding(3, 2, init="nope")
