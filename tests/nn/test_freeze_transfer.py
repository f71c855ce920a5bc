"""Freezing by name or index, load_state_dict(strict=False) and its mismatch errors, and
replace_head: the nn side of transfer learning."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn
from deltaprop.errors import ConfigError, ModelFileError, ShapeError, WeightsMismatchError


def _net():
    dp.seed(0)
    return nn.mlp(4, [6, 5], 3)  # 0 Linear, 1 ReLU, 2 Linear, 3 ReLU, 4 Linear


def _trainable(model):
    return [n for n, p in model.named_parameters() if p.requires_grad]


def test_freeze_by_name_index_and_parameter():
    model = _net()
    assert model.freeze("0", 2) is model
    assert _trainable(model) == ["4.weight", "4.bias"]
    model.unfreeze("2")
    assert _trainable(model) == ["2.weight", "2.bias", "4.weight", "4.bias"]
    model.unfreeze().freeze(-1)  # negative: from the end (the output layer)
    assert _trainable(model) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    model.unfreeze().freeze("0.bias")
    assert _trainable(model) == ["0.weight", "2.weight", "2.bias", "4.weight", "4.bias"]
    model.freeze()
    assert _trainable(model) == []
    model.requires_grad_(True)
    assert len(_trainable(model)) == 6
    model[0].requires_grad_(False)
    assert _trainable(model)[:1] == ["2.weight"]


def test_freeze_nested_names():
    model = nn.mlp(4, [6, 5], 3, residual=True)  # 0 Residual(block.0 Linear, shortcut), ...
    model.freeze("0.block.0")
    assert [n for n, p in model.named_parameters() if not p.requires_grad] == [
        "0.block.0.weight", "0.block.0.bias",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "names, match",
    [(("7",), "no layer or parameter named '7'.*0 Linear, 1 ReLU"), ((5,), "index 5 does not"),
     ((-6,), "index -6"), ((1.5,), "expected layer names"), ((True,), "expected layer names")],
)  # fmt: skip
def test_freeze_unknown_names_are_refused_and_nothing_is_frozen(names, match):
    model = _net()
    with pytest.raises(ConfigError, match=match):
        model.freeze("0", *names)
    assert len(_trainable(model)) == 6
    with pytest.raises(ConfigError, match="unfreeze"):
        model.unfreeze(*names)


def test_frozen_layers_get_no_gradient_and_stale_ones_are_dropped():
    model = _net()
    x = dp.tensor(np.ones((2, 4), np.float32))
    model(x).sum().backward()
    assert model[0].weight.grad is not None
    model.freeze(0)
    assert model[0].weight.grad is None  # freezing drops a gradient left from before
    model.zero_grad()
    model(x).sum().backward()
    assert model[0].weight.grad is None and model[0].bias.grad is None
    assert model[2].weight.grad is not None


def test_load_state_dict_returns_missing_and_unexpected_keys():
    model, other = _net(), nn.mlp(4, [6, 5], 3)
    state = other.state_dict()
    del state["4.bias"]
    state["5.weight"] = np.zeros(2)
    before = model[4].bias.numpy().copy()
    result = model.load_state_dict(state, strict=False)
    assert result == nn.IncompatibleKeys(["4.bias"], ["5.weight"])
    assert result.missing_keys == ["4.bias"] and result.unexpected_keys == ["5.weight"]
    np.testing.assert_array_equal(model[0].weight.numpy(), other[0].weight.numpy())
    np.testing.assert_array_equal(model[4].bias.numpy(), before)
    assert model.load_state_dict(other.state_dict()) == ([], [])


@pytest.mark.parametrize("strict", [True, False])
def test_shape_mismatch_is_a_model_file_error_naming_the_tensor(strict):
    model = _net()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    state = {k: v + 1 for k, v in model.state_dict().items()}
    state["4.weight"] = np.zeros((3, 5))  # PyTorch's (out, in)
    with pytest.raises(WeightsMismatchError, match=r"'4\.weight'.*\(5, 3\).*\(3, 5\)") as info:
        model.load_state_dict(state, strict=strict)
    assert isinstance(info.value, ModelFileError) and isinstance(info.value, ShapeError)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])  # nothing was written


def test_replace_head_keeps_the_body_and_the_input_width():
    model = _net()
    body = model[0].weight.numpy().copy()
    head = nn.replace_head(model, 7)
    assert model[4] is head and model._modules["4"] is head
    assert (head.in_features, head.out_features) == (5, 7)
    assert model(dp.tensor(np.ones((2, 4), np.float32))).shape == (2, 7)
    np.testing.assert_array_equal(model[0].weight.numpy(), body)
    assert nn.head_name(model) == "4"
    nested = nn.Sequential(nn.Linear(3, 4), nn.Sequential(nn.ReLU(), nn.Linear(4, 2, bias=False)))
    new = nn.replace_head(nested, 6, init="zeros")
    assert nn.head_name(nested) == "1.1" and nested[1][1] is new and new.bias is None
    assert np.all(new.weight.numpy() == 0)


def test_replace_head_bad_input():
    with pytest.raises(ConfigError, match="Linear"):
        nn.replace_head(nn.Sequential(nn.ReLU()), 3)
    with pytest.raises(ConfigError, match="n_out"):
        nn.replace_head(_net(), 0)
    with pytest.raises(ConfigError, match="model"):
        nn.head_name("not a model")
