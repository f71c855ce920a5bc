"""Module, Parameter, Sequential: names, sharing, state, modes, containers."""

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn
from deltaprop.errors import ConfigError, ShapeError


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(np.ones(3))
        self.fc = nn.Linear(3, 2)
        self.register_buffer("count", np.zeros(1))
        self.shift = nn.Parameter(np.zeros(2))

    def forward(self, x):
        return self.fc(x * self.scale) + self.shift


def test_dotted_names_follow_registration_order():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), Block(), nn.Sequential(nn.Linear(2, 2)))
    names = [n for n, _ in model.named_parameters()]
    # as in PyTorch: a module's own parameters first, then its children's
    assert names == [
        "0.weight", "0.bias", "2.scale", "2.shift", "2.fc.weight", "2.fc.bias",
        "3.0.weight", "3.0.bias",
    ]  # fmt: skip
    assert [n for n, _ in model.named_buffers()] == ["2.count"]
    assert model.parameters() == [p for _, p in model.named_parameters()]
    assert model.num_parameters() == 4 * 3 + 3 + 3 + 3 * 2 + 2 + 2 + 2 * 2 + 2


def test_shared_parameters_and_modules_appear_once():
    shared = nn.Linear(3, 3)
    model = nn.Sequential(shared, nn.Tanh(), shared)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    assert list(model.state_dict()) == ["0.weight", "0.bias"]

    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Parameter(np.ones(2))
            self.b = self.a

    assert [n for n, _ in Tied().named_parameters()] == ["a"]


def test_reassigning_an_attribute_updates_the_registry():
    layer = nn.Linear(2, 2)
    layer.bias = None
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    layer.weight = np.zeros((2, 2))  # no longer a Parameter: unregistered
    assert layer.parameters() == []


def test_state_dict_is_a_copy():
    model = nn.Sequential(nn.Linear(2, 3))
    state = model.state_dict()
    assert list(state) == ["0.weight", "0.bias"]
    assert isinstance(state["0.weight"], np.ndarray)
    state["0.weight"][:] = 42.0
    assert not np.any(model[0].weight.numpy() == 42.0)


def test_load_state_dict_round_trip_and_tensor_values():
    dp.seed(0)
    a, b = nn.Sequential(Block()), nn.Sequential(Block())
    b.load_state_dict(a.state_dict())
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert na == nb and np.array_equal(pa.numpy(), pb.numpy())
    state = {k: dp.tensor(v) for k, v in a.state_dict().items()}
    b.load_state_dict(state)
    assert np.array_equal(b[0].fc.weight.numpy(), a[0].fc.weight.numpy())
    assert b[0].fc.weight.dtype == np.float32


def _snapshot(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def test_load_state_dict_strict_keys_leave_model_unchanged():
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    before = _snapshot(model)
    state = model.state_dict()
    state["0.weight"] += 1.0
    missing = dict(state)
    del missing["1.bias"]
    with pytest.raises(ConfigError, match=r"1\.bias"):
        model.load_state_dict(missing)
    extra = dict(state, **{"2.weight": np.zeros(1)})
    with pytest.raises(ConfigError, match=r"2\.weight"):
        model.load_state_dict(extra)
    for k, v in _snapshot(model).items():
        assert np.array_equal(v, before[k])
    # not strict: missing and unexpected keys are skipped, the rest is loaded
    model.load_state_dict(dict(missing, extra=np.zeros(1)), strict=False)
    assert np.allclose(model[0].weight.numpy(), before["0.weight"] + 1.0)
    assert np.array_equal(model[1].bias.numpy(), before["1.bias"])


def test_load_state_dict_bad_shape_leaves_model_unchanged():
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    before = _snapshot(model)
    state = {k: v + 1.0 for k, v in model.state_dict().items()}
    state["1.weight"] = np.zeros((1, 3))  # transposed: (out, in) instead of (in, out)
    with pytest.raises(ShapeError, match=r"1\.weight.*\(3, 1\).*\(1, 3\)"):
        model.load_state_dict(state)
    for k, v in _snapshot(model).items():
        assert np.array_equal(v, before[k]), k  # earlier keys were not written either


def test_train_eval_propagate_to_every_submodule():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(0.5), Block()))
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model.train(False)
    assert not model[1][0].training


def test_zero_grad_drops_every_gradient():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    model(np.ones((2, 3))).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_sequential_indexing_slicing_and_append():
    l0, l1, l2 = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    model = nn.Sequential([l0, l1])  # a list works as well as positional layers
    assert model.append(l2) is model
    assert len(model) == 3 and list(model) == [l0, l1, l2]
    assert model[0] is l0 and model[-1] is l2
    head = model[:2]
    assert isinstance(head, nn.Sequential) and list(head) == [l0, l1]
    assert head[0].weight is l0.weight  # a slice shares the layers
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    x = np.ones((5, 2), dtype=np.float32)
    assert np.allclose(model(x).numpy(), l2(l1(l0(x))).numpy())
    with pytest.raises(ConfigError, match=r"layers\[1\]"):
        nn.Sequential(nn.ReLU(), "relu")
    with pytest.raises(ConfigError, match="layer"):
        model.append(np.zeros(2))


def test_repr_nests_and_shows_configs():
    model = nn.Sequential(nn.Linear(2, 3, bias=False), nn.Sequential(nn.LeakyReLU(0.1)))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=3, bias=False)\n"
        "  (1): Sequential(\n"
        "    (0): LeakyReLU(negative_slope=0.1)\n"
        "  )\n"
        ")"
    )
    assert repr(nn.Parameter(np.zeros(1))).startswith("Parameter(tensor(")


def test_parameter_requires_grad_and_buffers_are_not_parameters():
    p = nn.Parameter(np.zeros(2))
    assert p.requires_grad and p.dtype == np.float32
    block = Block()
    assert "count" not in dict(block.named_parameters())
    assert "count" in block.state_dict()


def test_forgetting_super_init_is_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.zeros(1))

    with pytest.raises(AttributeError, match="super"):
        Bad()
