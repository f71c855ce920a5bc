"""PyTorch state_dict files in and out: the same network built in torch and in deltaprop,
weights moved both ways through safetensors files, outputs equal to 1e-5."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import io, nn
from deltaprop.errors import ConfigError, ModelFileError, WeightsMismatchError

torch = pytest.importorskip("torch")
st_torch = pytest.importorskip("safetensors.torch")
T = torch.nn


def _mlp_pair():
    t = T.Sequential(T.Linear(6, 8), T.BatchNorm1d(8), T.ReLU(), T.Linear(8, 8), T.LayerNorm(8),
                     T.Tanh(), T.Linear(8, 3))  # fmt: skip
    d = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 8),
                      nn.LayerNorm(8), nn.Tanh(), nn.Linear(8, 3))  # fmt: skip
    return t, d, (16, 6)


def _cnn_pair():
    t = T.Sequential(T.Conv2d(2, 4, 3, padding=1), T.BatchNorm2d(4), T.ReLU(), T.MaxPool2d(2),
                     T.Flatten(), T.Linear(16, 5))  # fmt: skip
    d = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                      nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16, 5))  # fmt: skip
    return t, d, (16, 2, 4, 4)


def _trained(t, shape):
    """Some training steps in torch, so that running statistics and weights are not defaults."""
    torch.manual_seed(0)
    opt = torch.optim.SGD(t.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        t(torch.randn(*shape)).square().mean().backward()
        opt.step()
    return t.eval()


def _outputs(t, d, shape):
    x = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    with torch.no_grad():
        expected = t(torch.from_numpy(x)).numpy()
    d.eval()
    return d(dp.tensor(x)).numpy(), expected


@pytest.mark.parametrize("pair", [_mlp_pair, _cnn_pair])
def test_torch_to_deltaprop_and_back(pair, tmp_path):
    t, d, shape = pair()
    t = _trained(t, shape)
    st_torch.save_file(t.state_dict(), tmp_path / "torch.safetensors")
    assert io.load_torch_state(d, tmp_path / "torch.safetensors") == ([], [])
    ours, theirs = _outputs(t, d, shape)
    np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=1e-5)
    bn = [m for m in d.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))][0]
    assert int(bn.num_batches_tracked.numpy()) == 3

    # change every deltaprop weight, export, and load into a fresh torch net
    for p in d.parameters():
        p.data = p.data * 1.5 + 0.01
    io.save_torch_state(d, tmp_path / "dp.safetensors")
    fresh = pair()[0]
    fresh.load_state_dict(st_torch.load_file(tmp_path / "dp.safetensors"))  # torch's strict
    ours, theirs = _outputs(fresh.eval(), d, shape)
    np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=1e-5)


def test_linear_weights_are_transposed_in_the_torch_layout():
    d = nn.Sequential(nn.Linear(3, 2))
    state = io.to_torch_state(d)
    assert state["0.weight"].shape == (2, 3) and state["0.weight"].flags.c_contiguous
    np.testing.assert_array_equal(state["0.weight"], d[0].weight.numpy().T)


def test_bad_torch_files_leave_the_model_unchanged(tmp_path):
    t, d, shape = _mlp_pair()
    before = {k: v.copy() for k, v in d.state_dict().items()}
    state = {k: v.clone() for k, v in t.state_dict().items()}
    state["6.weight"] = torch.zeros(8, 3)  # deltaprop's (in, out) given as torch's
    st_torch.save_file(state, tmp_path / "bad.safetensors")
    with pytest.raises(WeightsMismatchError, match=r"bad.safetensors: tensor '6.weight'.*\(3, 8\)"):
        io.load_torch_state(d, tmp_path / "bad.safetensors")
    del state["6.weight"]
    st_torch.save_file(state, tmp_path / "missing.safetensors")
    with pytest.raises(ModelFileError, match=r"missing \['6.weight'\]"):
        io.load_torch_state(d, tmp_path / "missing.safetensors")
    for k, v in d.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    assert io.load_torch_state(d, tmp_path / "missing.safetensors", strict=False) == (
        ["6.weight"], [],
    )  # fmt: skip
    dp.save(d, tmp_path / "ours.safetensors")
    with pytest.raises(ModelFileError, match="a deltaprop model file"):
        io.load_torch_state(d, tmp_path / "ours.safetensors")
    with pytest.raises(ModelFileError, match="no such file"):
        io.load_torch_state(d, tmp_path / "nosuch.safetensors")
    with pytest.raises(ConfigError, match="model"):
        io.save_torch_state(t, tmp_path / "x.safetensors")
