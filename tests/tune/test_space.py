"""The search space: parameters, their checks, TOML [space] tables, the default space, and a
trial's recipe (Optuna's FixedTrial stands in for a sampler)."""

from __future__ import annotations

import pytest

import deltaprop as dp
from deltaprop.errors import ConfigError
from deltaprop.tune import Choice, Float, Int, LogFloat, Space, default_space

optuna = pytest.importorskip("optuna")


def test_space_orders_parameters_as_the_recipe_table():
    space = Space(momentum=Float(0.5, 0.9), optimizer=Choice(["sgd", "adam"]), units=Int(8, 64))
    assert list(space.params) == ["units", "optimizer", "momentum"]


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"lrr": LogFloat(1e-3, 1e-1)}, ["unknown parameter 'lrr'", "searchable:", "lr"]),
        ({"seed": Choice([0, 1])}, ["seed cannot be searched", "test split"]),
        ({"dataset": Choice(["iris"])}, ["dataset cannot be searched"]),
        ({"activation": Choice([])}, ["activation", "at least one value"]),
        ({"activation": Choice(["relu", "relu"])}, ["activation", "listed twice"]),
        ({"activation": Choice(["relu", "relux"])}, ["activation", "relux"]),
        ({"lr": Float(0.1, 0.01)}, ["lr", "low < high"]),
        ({"lr": Float(0.1, 0.1)}, ["lr", "low < high"]),
        ({"lr": LogFloat(0.0, 0.1)}, ["lr", "log range", "above 0"]),
        ({"l2": Float(-1.0, 0.1, log=True)}, ["l2", "log range"]),
        ({"units": Int(0, 64, log=True)}, ["units", "log range"]),
        ({"batch_size": Float(8, 64)}, ["batch_size", "Int or Choice"]),
        ({"activation": Float(0.0, 1.0)}, ["activation", "Choice"]),
        ({"dropout": Float(0.0, 1.5)}, ["dropout"]),
        ({"lr": 0.1}, ["lr", "a fixed value goes in the recipe"]),
        ({"hidden": Choice(["64"]), "units": Int(8, 16)}, ["hidden and layers/units"]),
        ({"layers": Int(-1, 2)}, ["layers", ">= 0"]),
        ({"lr": Float(1e-3, float("inf"))}, ["lr: high", "finite"]),
        ({"epochs": Int(1, 5, step=0)}, ["epochs: step"]),
        ({"lr": Float(0.1, 0.5, step=0.1, log=True)}, ["lr: step", "without log"]),
        ({"activation": Choice("relu")}, ["activation", "list of values"]),
        ({"activation": Choice([None])}, ["activation", "strings, numbers or booleans"]),
    ],
)
def test_bad_spaces_name_the_parameter(kwargs, words):
    with pytest.raises(ConfigError) as info:
        Space(**kwargs)
    for word in words:
        assert word in str(info.value)


def test_space_check_against_the_recipe():
    mlp = dp.Recipe(dataset="iris")
    with pytest.raises(ConfigError, match="channels.*cnn"):
        Space(channels=Choice(["8,16"])).check(mlp)
    with pytest.raises(ConfigError, match="momentum"):  # adam has none, and is all there is
        Space(momentum=Float(0.1, 0.9)).check(mlp.replace(optimizer="adam"))
    Space(channels=Choice(["8,16"])).check(mlp.replace(model="cnn", dataset="digits"))
    Space(momentum=Float(0.1, 0.9), optimizer=Choice(["adam", "sgd"])).check(mlp)


def test_grid_values_and_the_continuous_range_error():
    space = Space(lr=Choice([0.01, 0.1]), batch_size=Int(16, 48, step=16),
                  dropout=Float(0.0, 0.2, step=0.1))  # fmt: skip
    assert space.grid() == {"lr": [0.01, 0.1], "batch_size": [16, 32, 48],
                            "dropout": [0.0, 0.1, 0.2]}  # fmt: skip
    assert space.grid_size() == 18
    with pytest.raises(
        ConfigError, match=r"lr: a grid search needs listed values.*\[0.0001, 0.1\]"
    ):
        Space(lr=LogFloat(1e-4, 1e-1)).grid()
    with pytest.raises(ConfigError, match="more than a grid takes"):
        Space(l2=Float(0.0, 1.0, step=1e-6)).grid()


def test_from_dict_reads_toml_tables():
    space = Space.from_dict({
        "lr": {"low": 1e-4, "high": 1e-1, "log": True},
        "batch-size": {"low": 16, "high": 128, "step": 16},
        "dropout": {"low": 0, "high": 0.5},
        "weight_decay": {"low": 0, "high": 1},  # a float key: ints are its ends
        "hidden": ["64", "128,64"],
        "batchnorm": [True, False],
    })  # fmt: skip
    assert space.params["lr"] == LogFloat(1e-4, 1e-1)
    assert space.params["batch_size"] == Int(16, 128, 16)
    assert isinstance(space.params["dropout"], Float)
    assert isinstance(space.params["weight_decay"], Float)
    assert space.params["hidden"] == Choice(["64", "128,64"])
    assert Space.from_dict(space.describe()) == space


@pytest.mark.parametrize(
    "table, words",
    [
        ({"lr": {"low": 1e-4, "hi": 0.1}}, ["lr", "unknown key 'hi'"]),
        ({"lr": {"low": 1e-4}}, ["lr", "expected high"]),
        ({"lr": 0.1}, ["lr", "fixed value goes in the recipe"]),
        ({"foo": [1, 2]}, ["unknown parameter 'foo'"]),
        ({"lr": {"low": 0, "high": 0.1, "log": True}}, ["lr", "log range"]),
        ({"batch_size": {"low": 8.5, "high": 64}}, ["batch_size: low", "integer"]),
    ],
)
def test_from_dict_errors(table, words):
    with pytest.raises(ConfigError) as info:
        Space.from_dict(table, where="--space s.toml")
    assert str(info.value).startswith("--space s.toml: ")
    for word in words:
        assert word in str(info.value)


def test_from_toml_file(tmp_path):
    path = tmp_path / "space.toml"
    path.write_text('[train]\ndataset = "iris"\n\n[space]\nlr = { low = 1e-3, high = 0.1, '
                    'log = true }\nactivation = ["relu", "tanh"]\n')  # fmt: skip
    space = Space.from_toml(path)
    assert list(space.params) == ["activation", "lr"]
    path.write_text("[space]\nlr = [0.1]\n[other]\nx = 1\n")
    with pytest.raises(ConfigError, match="unknown key 'other'"):
        Space.from_toml(path)
    path.write_text("lr = [0.1]\n")
    with pytest.raises(ConfigError, match=r"unknown key 'lr'.*\[space\]"):
        Space.from_toml(path)
    path.write_text("[train]\nlr = 0.1\n")
    with pytest.raises(ConfigError, match=r"no \[space\] table"):
        Space.from_toml(path)
    path.write_text("[space\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        Space.from_toml(path)
    with pytest.raises(ConfigError, match="file not found"):
        Space.from_toml(tmp_path / "missing.toml")


def test_suggest_builds_the_trial_recipe():
    base = dp.Recipe(dataset="iris", hidden="32")
    space = Space(
        optimizer=Choice(["sgd", "adam"]), momentum=Float(0.1, 0.9), layers=Int(1, 3),
        units=Int(4, 64, log=True), lr=LogFloat(1e-3, 1e-1),
    )  # fmt: skip
    trial = optuna.trial.FixedTrial(
        {"optimizer": "sgd", "momentum": 0.5, "layers": 2, "units": 8, "lr": 0.01}
    )
    recipe = space.suggest(trial, base)
    assert (recipe.optimizer, recipe.momentum, recipe.hidden, recipe.lr) == (
        "sgd",
        0.5,
        (8, 8),
        0.01,
    )
    # momentum is conditional: not asked of a trial whose optimizer has none
    trial = optuna.trial.FixedTrial({"optimizer": "adam", "layers": 1, "units": 16, "lr": 0.01})
    recipe = space.suggest(trial, base)
    assert (recipe.optimizer, recipe.momentum, recipe.hidden) == ("adam", None, (16,))
    # units alone keeps the recipe's number of layers
    only = Space(units=Int(4, 64)).suggest(optuna.trial.FixedTrial({"units": 5}), base)
    assert only.hidden == (5,)


def test_suggest_refuses_values_that_do_not_go_together():
    space = Space(descent=Choice(["stochastic", "minibatch"]))
    with pytest.raises(ConfigError, match="batch normalization"):
        space.suggest(optuna.trial.FixedTrial({"descent": "stochastic"}),
                      dp.Recipe(dataset="iris", batchnorm=True))  # fmt: skip


@pytest.mark.parametrize("strategy", ["bayes", "grid"])
def test_default_space_is_valid(strategy):
    for base in (dp.Recipe(dataset="iris"), dp.Recipe(dataset="digits", model="cnn")):
        space = default_space(base, strategy)
        space.check(base)
        assert "lr" in space.params
        if strategy == "grid":
            assert space.grid_size() >= 4
        assert ("channels" in space.params) == (base.model == "cnn")
