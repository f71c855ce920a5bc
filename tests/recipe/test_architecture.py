"""The recipe's ``architecture`` key: the checks when a Recipe is made (errors naming the layer
index and the key), building for the data (sizes inferred, the output layer, residual
projections, errors naming the layer), TOML, to_dict, and a bad architecture writing nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn
from deltaprop.errors import ConfigError
from deltaprop.recipe import Recipe, build_model
from deltaprop.recipe.architecture import TYPES, check_architecture, takes_images
from deltaprop.recipe.architecture_build import build_architecture, describe

CONV = {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}
SMALL_CNN = [CONV, {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 2},
             {"type": "flatten"}, {"type": "linear", "out_features": 10}]  # fmt: skip


# --- checked when the Recipe is made --------------------------------------------------------


def test_a_misspelt_key_names_the_layer_the_key_and_the_keys_of_its_type():
    layers = [CONV, {"type": "relu"}, {"type": "conv2d", "out_channels": 8, "kernal_size": 3}]
    with pytest.raises(ConfigError) as info:
        Recipe(architecture=layers)
    assert str(info.value) == (
        "architecture[2]: unknown key 'kernal_size' for conv2d; expected one of type, "
        "out_channels, kernel_size, in_channels, stride, padding, dilation, bias, init"
    )


def test_an_unknown_type_lists_the_types():
    with pytest.raises(ConfigError) as info:
        Recipe(architecture=[{"type": "conv3d", "out_channels": 3}])
    message = str(info.value)
    assert message.startswith("architecture[0]: type: unknown name 'conv3d'; expected one of")
    for name in TYPES:
        assert repr(name) in message


@pytest.mark.parametrize(
    "layers, message",
    [
        ([], r"^architecture: expected a non-empty list of layers"),
        ({"type": "relu"}, r"^architecture: expected a non-empty list of layers"),
        ([{"type": "relu"}, "relu"], r"^architecture\[1\]: expected a table with a type"),
        (
            [{"out_features": 3}],
            r"^architecture\[0\]: expected a 'type' key .* got keys "
            r"out_features",
        ),
        ([{"type": 3}], r"^architecture\[0\]: type: expected a name, got int"),
        ([{"type": "linear"}], r"^architecture\[0\]: linear needs 'out_features'"),
        (
            [{"type": "linear", "out_features": 0}],
            r"^architecture\[0\]\.out_features: expected an integer >= 1, got 0",
        ),
        (
            [CONV, {"type": "maxpool2d", "kernel_size": "2x2"}],
            r"^architecture\[1\]\.kernel_size: expected an integer >= 1",
        ),
        (
            [{"type": "conv2d", "out_channels": 2, "kernel_size": 3, "padding": -1}],
            r"^architecture\[0\]\.padding: expected an integer >= 0",
        ),
        ([{"type": "dropout", "p": 1.5}], r"^architecture\[0\]\.p: expected a number in \[0, 1\)"),
        ([{"type": "linear", "out_features": 2, "init": "magic"}], r"^architecture\[0\]\.init:"),
        ([{"type": "residual"}], r"^architecture\[0\]: residual needs 'block'"),
        (
            [{"type": "residual", "block": [{"type": "relu"}, {"type": "Linear", "units": 4}]}],
            r"^architecture\[0\]\.block\[1\]: unknown key 'units' for linear",
        ),
        ([{"type": "residual", "block": []}], r"^architecture\[0\]\.block: expected a non-empty"),
    ],
)
def test_bad_layers_name_the_index_and_the_key(layers, message):
    with pytest.raises(ConfigError, match=message):
        Recipe(architecture=layers)


def test_residual_nesting_is_bounded_and_the_deepest_saves_and_loads(tmp_path):
    layers: list = [{"type": "linear", "out_features": 4}, {"type": "tanh"}]
    for _ in range(8):
        layers = [{"type": "residual", "block": layers}]
    assert Recipe(architecture=layers).architecture[0]["type"] == "residual"
    deeper = [{"type": "residual", "block": layers}]
    with pytest.raises(ConfigError, match=r"\.block\[0\]\.block: residual blocks nested more "
                                          r"than 8 deep$"):  # fmt: skip
        Recipe(architecture=deeper)
    model = build_architecture(check_architecture(layers), (4,), 2).model
    path = tmp_path / "deep.safetensors"
    dp.save(model, path, metadata={"architecture": Recipe(architecture=layers).to_dict()})
    loaded = dp.load(path)
    x = np.ones((3, 4), np.float32)
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())


def test_names_are_normalized_and_values_kept_as_json():
    r = Recipe(architecture=[{"type": "Conv", "out_channels": 2, "kernel_size": (3, 5)},
                             {"type": "Leaky-ReLU", "negative_slope": 0.1},
                             {"type": "Dense", "out_features": 10}])  # fmt: skip
    assert [layer["type"] for layer in r.architecture] == ["conv2d", "leaky_relu", "linear"]
    assert r.architecture[0]["kernel_size"] == [3, 5]
    d = r.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert Recipe.from_dict(d) == r
    assert takes_images(r.architecture) and not takes_images(check_architecture(
        [{"type": "residual", "block": [{"type": "linear", "out_features": 2}]}]))  # fmt: skip


def test_an_architecture_replaces_the_layer_keys():
    with pytest.raises(ConfigError) as info:
        Recipe(architecture=SMALL_CNN, hidden="64", dropout=0.2)
    assert str(info.value).startswith("architecture: its layers replace model, hidden, channels")
    assert str(info.value).endswith("got also hidden, dropout")
    with pytest.raises(ConfigError, match="got also --model"):
        Recipe(architecture=SMALL_CNN, model="cnn", source="cli")
    assert Recipe(architecture=SMALL_CNN, init="he").init == "he"  # init: the layers' default


# --- built for the data ---------------------------------------------------------------------


def test_sizes_are_inferred_and_the_output_layer_is_added():
    dp.seed(0)
    layers = check_architecture([CONV, {"type": "batchnorm"}, {"type": "relu"},
                                 {"type": "maxpool2d", "kernel_size": 2},
                                 {"type": "conv2d", "out_channels": 6, "kernel_size": 3},
                                 {"type": "relu"}])  # fmt: skip
    built = build_architecture(layers, (3, 10, 10), 5, init="he")
    model = built.model
    assert [type(m).__name__ for m in model] == [
        "Conv2d",
        "BatchNorm2d",
        "ReLU",
        "MaxPool2d",
        "Conv2d",
        "ReLU",
        "Flatten",
        "Linear",
    ]
    assert model[0].in_channels == 3 and model[4].in_channels == 4 and model[0].init == "he"
    assert model[-1].weight.shape == (6 * 3 * 3, 5)  # 10 -> 5 (pool) -> 3 (3x3, no padding)
    assert describe(built) == ("3x10x10 > conv2d 4x10x10 > batchnorm > relu > maxpool2d 4x5x5 "
                               "> conv2d 6x3x3 > relu > flatten 54 > linear 5")  # fmt: skip
    assert model(np.zeros((2, 3, 10, 10), np.float32)).shape == (2, 5)
    rows = build_architecture(check_architecture([{"type": "linear", "out_features": 8},
                                                  {"type": "tanh"}]), (4,), 3)  # fmt: skip
    assert [type(m).__name__ for m in rows.model] == ["Linear", "Tanh", "Linear"]


def test_a_last_linear_must_give_the_outputs():
    layers = check_architecture([{"type": "linear", "out_features": 8}, {"type": "relu"},
                                 {"type": "linear", "out_features": 7}])  # fmt: skip
    with pytest.raises(ConfigError) as info:
        build_architecture(layers, (64,), 10)
    assert str(info.value).startswith(
        "architecture[2]: the last layer is a linear with out_features 7, but the data has 10 "
        "outputs: expected out_features = 10"
    )
    assert len(build_architecture(layers[:2] + ({**layers[2], "out_features": 10},), (64,), 10)
               .model) == 3  # fmt: skip


@pytest.mark.parametrize(
    "layers, shape, message",
    [
        (
            [{"type": "conv2d", "out_channels": 4, "kernel_size": 9}],
            (1, 8, 8),
            r"^architecture\[0\]: conv2d: Conv2d\(1->4, 9x9\): the kernel 9x9 is larger than the "
            r"input's 8x8 plane padded by 0,0",
        ),
        (
            [
                CONV,
                {"type": "maxpool2d", "kernel_size": 2},
                {"type": "maxpool2d", "kernel_size": 5},
            ],
            (1, 8, 8),
            r"^architecture\[2\]: maxpool2d: MaxPool2d\(5x5, stride 5\): the kernel 5x5 "
            r"is larger",
        ),
        (
            [CONV, {"type": "linear", "out_features": 10}],
            (1, 8, 8),
            r"^architecture\[1\]: linear expects flat rows \(N, features\), got images "
            r"\(N, 4, 8, 8\); put \{ type = \"flatten\" \}",
        ),
        (
            [{"type": "flatten"}, CONV],
            (1, 8, 8),
            r"^architecture\[1\]: conv2d expects images \(N, C, H, W\), got rows of 64 features",
        ),
        (
            [{**CONV, "in_channels": 3}],
            (1, 8, 8),
            r"^architecture\[0\]: in_channels 3 does not match its input, images \(N, 1, 8, 8\) "
            r"with 1 channel;",
        ),
        (
            [{"type": "linear", "out_features": 4, "in_features": 5}],
            (64,),
            r"^architecture\[0\]: in_features 5 does not match its input, rows of 64 features",
        ),
        (
            [CONV, {"type": "batchnorm2d", "num_features": 8}],
            (1, 8, 8),
            r"^architecture\[1\]: num_features 8 does not match",
        ),
        (
            [{"type": "residual", "block": [CONV, {"type": "flatten"}]}],
            (1, 8, 8),
            r"^architecture\[0\]: the block maps 1x8x8 to 256, and no 1x1 projection",
        ),
        (
            [
                {
                    "type": "residual",
                    "block": [CONV],
                    "shortcut": [{"type": "maxpool2d", "kernel_size": 2}],
                }
            ],
            (4, 8, 8),
            r"^architecture\[0\]: the block maps 4x8x8 to 4x8x8 but the shortcut to 4x4x4",
        ),
        (
            [
                {
                    "type": "residual",
                    "block": [{"type": "conv2d", "out_channels": 2, "kernel_size": 11}],
                }
            ],
            (1, 8, 8),
            r"^architecture\[0\]\.block\[0\]: conv2d: .*kernel 11x11 is larger",
        ),
    ],
)
def test_layers_that_do_not_fit_the_data_name_the_layer(layers, shape, message):
    with pytest.raises(ConfigError, match=message):
        build_architecture(check_architecture(layers), shape, 10)


def test_residual_layers_get_identity_or_projection_skips():
    layers = check_architecture([
        {"type": "residual", "block": [CONV, {"type": "relu"}]},  # 1 -> 4 channels
        {"type": "residual", "block": [{**CONV, "out_channels": 4}, {"type": "relu"}]},
        {"type": "residual", "block": [{**CONV, "stride": 2}]},  # 8x8 -> 4x4
        {"type": "flatten"},
        {"type": "residual", "block": [{"type": "linear", "out_features": 64}, {"type": "tanh"}]},
        {"type": "residual", "block": [{"type": "linear", "out_features": 32}]},
        {"type": "residual", "block": [{"type": "relu"}], "shortcut": [{"type": "tanh"}]},
    ])  # fmt: skip
    model = build_architecture(layers, (1, 8, 8), 10).model
    skips = [model[i].shortcut for i in (0, 1, 2, 4, 5, 6)]
    assert isinstance(skips[0], nn.Conv2d) and skips[0].kernel_size == (1, 1)
    assert skips[0].stride == (1, 1) and skips[0].bias is None
    assert skips[1] is None
    assert isinstance(skips[2], nn.Conv2d) and skips[2].stride == (2, 2)
    assert skips[3] is None  # 4*4*4 = 64 -> 64
    assert isinstance(skips[4], nn.Linear) and skips[4].weight.shape == (64, 32)
    assert isinstance(skips[5], nn.Sequential) and isinstance(skips[5][0], nn.Tanh)
    assert model(np.zeros((3, 1, 8, 8), np.float32)).shape == (3, 10)


def test_build_model_takes_the_architecture_and_leaves_the_random_numbers_to_the_model():
    recipe = Recipe(architecture=SMALL_CNN)
    dp.seed(3)
    a = build_model(recipe, (1, 8, 8), 10)
    dp.seed(3)
    from deltaprop.recipe.models import model_description

    assert model_description(recipe, (1, 8, 8), 10).startswith("architecture 1x8x8 > conv2d")
    b = build_model(recipe, (1, 8, 8), 10)  # describing drew none of deltaprop's numbers
    np.testing.assert_array_equal(a[0].weight.numpy(), b[0].weight.numpy())


# --- from TOML, and a run ----------------------------------------------------------------------

TOML = """\
epochs = 2
log_every = 2
optimizer = "adam"

[[architecture]]
type = "conv2d"
out_channels = 4
kernel_size = 3
padding = 1

[[architecture]]
type = "relu"

[[architecture]]
type = "maxpool2d"
kernel_size = 2

[[architecture]]
type = "flatten"

[[architecture]]
type = "linear"
out_features = 10
"""


def test_toml_architecture_trains_saves_and_predicts(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(TOML)
    recipe = Recipe.from_toml(path).replace(save=str(tmp_path / "m.safetensors"))
    assert [layer["type"] for layer in recipe.architecture][-1] == "linear"
    lines = []
    result = dp.run(recipe, verbose=False, log=lines.append)
    assert lines[-1].endswith("architecture 1x8x8 > conv2d 4x8x8 > relu > maxpool2d 4x4x4 > "
                              "flatten 64 > linear 10")  # fmt: skip
    assert result.metrics["test_accuracy"] > 0.5
    pred = dp.recipe.predict_file(recipe.save, "digits")
    assert pred.metrics["accuracy"] > 0.5
    _, meta = dp.io.load(recipe.save, return_metadata=True)
    assert meta["deltaprop_cli"]["image_shape"] == [1, 8, 8]
    assert meta["deltaprop_cli"]["settings"]["architecture"][0]["type"] == "conv2d"


def test_toml_architecture_as_one_table_is_an_error_that_says_two_brackets(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('[architecture]\ntype = "relu"\n')
    with pytest.raises(ConfigError, match=r"config key 'architecture': expected a list of "
                                          r"layers, \[\[architecture\]\] tables"):  # fmt: skip
        Recipe.from_toml(path)


def test_a_bad_architecture_writes_nothing(tmp_path):
    out = {"save": tmp_path / "m.safetensors", "metrics_out": tmp_path / "m.json",
           "checkpoint": tmp_path / "c.ckpt"}  # fmt: skip
    bad = [{"type": "conv2d", "out_channels": 4, "kernel_size": 9}, {"type": "relu"}]
    with pytest.raises(ConfigError, match=r"^architecture\[0\]: conv2d: .*larger"):
        dp.run(Recipe(architecture=bad, epochs=1, **out), verbose=False)
    image_layer_on_rows = [CONV, {"type": "relu"}]
    with pytest.raises(ConfigError, match=r"^architecture\[0\] \(conv2d\) needs image data, and "
                                          r"wine is not \(rows of 13 features"):  # fmt: skip
        dp.run(Recipe(dataset="wine", architecture=image_layer_on_rows, **out), verbose=False)
    assert list(tmp_path.iterdir()) == []
