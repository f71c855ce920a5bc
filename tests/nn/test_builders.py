"""Model builders: nn.cnn (conv blocks, head, batch norm, residual blocks with 1x1 projections)
and nn.mlp's residual option (identity skips, Linear projections where the width changes)."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn
from deltaprop.errors import ConfigError


def kinds(model):
    return [type(m).__name__ for m in model]


def test_cnn_layers_and_shapes():
    dp.seed(0)
    model = nn.cnn((1, 8, 8), 10, channels=(4, 8), hidden=(16,))
    assert kinds(model) == ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d",
                            "Flatten", "Linear", "ReLU", "Linear"]  # fmt: skip
    conv = model[0]
    assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.padding) == (
        1, 4, (3, 3), (1, 1)
    )  # fmt: skip
    assert model[7].weight.shape == (8 * 2 * 2, 16)  # 8x8 -> 4x4 -> 2x2 after two poolings
    out = model(np.zeros((5, 1, 8, 8), np.float32))
    assert out.shape == (5, 10)


def test_cnn_options_batchnorm_dropout_no_head_and_three_channels():
    model = nn.cnn((3, 12, 10), 4, channels=(6,), kernel_size=5, pool=2, hidden=(),
                   batchnorm=True, dropout=0.3, activation="tanh")  # fmt: skip
    assert kinds(model) == ["Conv2d", "BatchNorm2d", "Tanh", "MaxPool2d", "Flatten", "Linear"]
    assert model[0].padding == (2, 2) and model[-1].weight.shape == (6 * 6 * 5, 4)
    head = nn.cnn((1, 8, 8), 3, channels=(2,), hidden=(5,), batchnorm=True, dropout=0.5)
    assert kinds(head)[-5:] == ["Linear", "BatchNorm1d", "ReLU", "Dropout", "Linear"]
    assert nn.cnn((1, 8, 8), 2, channels=(2,), pool=1)[-3].weight.shape == (2 * 8 * 8, 128)


def test_cnn_residual_blocks_project_where_channels_change():
    model = nn.cnn((1, 8, 8), 10, channels=(4, 4), residual=True)
    first, second = model[0], model[2]
    assert isinstance(first, nn.Residual) and isinstance(second, nn.Residual)
    # 1 -> 4 channels: a 1x1 convolution without bias; 4 -> 4: the identity
    assert isinstance(first.shortcut, nn.Conv2d) and first.shortcut.kernel_size == (1, 1)
    assert first.shortcut.bias is None and second.shortcut is None
    assert kinds(first.block) == ["Conv2d", "ReLU"]
    x = dp.tensor(np.random.default_rng(0).standard_normal((2, 1, 8, 8)), requires_grad=True)
    model(x).sum().backward()
    assert x.grad.shape == (2, 1, 8, 8)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"in_shape": (8, 8)}, r"^in_shape: expected \(C, H, W\)"),
        ({"in_shape": (1, 0, 8)}, r"^in_shape\[1\]: expected an integer >= 1"),
        ({"channels": ()}, "^channels: expected at least one conv block width"),
        ({"channels": (4, 0)}, "^channels: expected an integer >= 1, got 0"),
        ({"kernel_size": 4}, "^kernel_size: expected an odd size"),
        (
            {"channels": (2, 2, 2, 2)},
            r"^channels: 4 conv blocks, each pooling by 2, need images "
            r"of at least 16x16 pixels; block 4 would get 1x1",
        ),
        ({"dropout": 1.0}, r"^dropout: expected a number in \[0, 1\)"),
        ({"residual": "yes"}, "^residual: expected True or False"),
        ({"activation": "swish"}, "^activation: unknown name 'swish'"),
    ],
)
def test_cnn_bad_arguments_name_the_argument(kwargs, message):
    args = {"in_shape": (1, 8, 8), "n_out": 10, **kwargs}
    with pytest.raises(ConfigError, match=message):
        nn.cnn(**args)


def test_mlp_residual_identity_and_projection_skips():
    model = nn.mlp(6, [8, 8, 4], 3, activation="tanh", norm="batchnorm", residual=True)
    blocks = list(model)[:-1]
    assert all(isinstance(b, nn.Residual) for b in blocks) and isinstance(model[-1], nn.Linear)
    assert kinds(blocks[0].block) == ["Linear", "BatchNorm1d", "Tanh"]
    shortcuts = [b.shortcut for b in blocks]
    assert isinstance(shortcuts[0], nn.Linear) and shortcuts[0].weight.shape == (6, 8)
    assert shortcuts[0].bias is None  # 6 -> 8: a projection; 8 -> 8: the identity
    assert shortcuts[1] is None
    assert isinstance(shortcuts[2], nn.Linear) and shortcuts[2].weight.shape == (8, 4)
    assert model(np.zeros((5, 6), np.float32)).shape == (5, 3)
    plain = nn.mlp(6, [8, 8], 3)
    assert kinds(plain) == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]


def test_a_20_layer_residual_mlp_passes_the_gradient_back_where_the_plain_one_does_not():
    """The skip connection's addition hands the loss gradient to the first layer unchanged;
    20 tanh layers with the default init shrink it by orders of magnitude on the way."""
    X = np.random.default_rng(1).standard_normal((32, 16)).astype(np.float32)
    y = np.arange(32) % 4
    norms = {}
    for residual in (False, True):
        dp.seed(0)
        model = nn.mlp(16, [32] * 20, 4, activation="tanh", residual=residual)
        nn.CrossEntropyLoss()(model(X), y).backward()
        first = model[0].block[0] if residual else model[0]
        norms[residual] = float(np.linalg.norm(first.weight.grad.numpy()))
    assert norms[False] < 1e-4 and norms[True] > 1e-2


def test_mlp_residual_is_checked():
    with pytest.raises(ConfigError, match="^residual: expected True or False"):
        nn.mlp(4, [4], 2, residual=1)
