"""The recipe's transfer-learning and distillation keys from Python and TOML."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.distill import distill_run
from deltaprop.errors import ConfigError
from deltaprop.recipe.transfer import freeze_names, param_groups, parse_freeze

FAST = {"dataset": "iris", "hidden": "8", "epochs": 2}


def test_freeze_text_is_checked_and_expanded():
    assert parse_freeze(" 0-1, 3 ") == "0-1,3" and parse_freeze([0, 2]) == "0,2"
    assert parse_freeze(4) == "4" and parse_freeze("none") is None and parse_freeze("") is None
    assert freeze_names("0-2,4,1.block.0") == ("0", "1", "2", "4", "1.block.0")
    for bad in ("2-1", "0;1", "a b", True, 1.5):
        with pytest.raises(ConfigError, match="freeze"):
            parse_freeze(bad)


def test_keys_between_them():
    with pytest.raises(ConfigError, match="temperature: only used when distilling, with teacher"):
        dp.Recipe(temperature=2.0)
    with pytest.raises(ConfigError, match="alpha"):
        dp.Recipe(alpha=0.3)
    with pytest.raises(ConfigError, match="teacher: distillation is a run of its own"):
        dp.run(dp.Recipe(teacher="t.safetensors", **FAST), verbose=False)


def test_python_and_toml_runs_with_init_from_freeze_and_groups(tmp_path):
    src = tmp_path / "src.safetensors"
    dp.run(dp.Recipe(**FAST, save=str(src)), verbose=False)
    recipe = dp.Recipe(**FAST, init_from=str(src), freeze="0", head_lr=0.2, optimizer="momentum")
    result = dp.run(recipe, verbose=False)
    groups = result.trainer.optimizer.param_groups
    assert [g["name"] for g in groups] == ["body", "head"]
    assert [g["lr"] for g in groups] == [0.05, 0.2]  # body: momentum's default lr
    assert groups[0]["momentum"] == 0.9
    np.testing.assert_array_equal(result.model[0].weight.numpy(), dp.load(src)[0].weight.numpy())
    toml = tmp_path / "run.toml"
    toml.write_text(f'dataset = "iris"\nhidden = "8"\nepochs = 1\ninit-from = "{src}"\n'
                    'freeze = "0-1"\nbody-lr = 0.01\n')  # fmt: skip
    r = dp.Recipe.from_toml(toml)
    assert (r.freeze, r.body_lr, r.head_lr) == ("0-1", 0.01, None)
    model = dp.recipe.build_model(r, 4, 3)
    assert [g.get("lr") for g in param_groups(r, model)] == [0.01, None]


def test_cross_validation_starts_every_fold_from_the_source(tmp_path):
    src = tmp_path / "src.safetensors"
    dp.run(dp.Recipe(**FAST, save=str(src)), verbose=False)
    result = dp.run(dp.Recipe(**FAST, init_from=str(src), freeze="0", cv=2), verbose=False)
    assert result.metrics["cv"]["k"] == 2


def test_distill_run_from_python(tmp_path):
    teacher = tmp_path / "t.safetensors"
    dp.run(dp.Recipe(**FAST, save=str(teacher)), verbose=False)
    result = distill_run(dp.Recipe(**FAST, teacher=str(teacher), alpha=1.0), verbose=False)
    assert result.trainer.alpha == 1.0 and result.trainer.temperature == 4.0
    assert 0 <= result.metrics["test_accuracy"] <= 1
    with pytest.raises(ConfigError, match="recipe"):
        distill_run("iris")
    csv = tmp_path / "reg.csv"
    rows = [f"{i % 7},{i % 5},{i % 3},{i % 2},{i * 0.37:.2f}" for i in range(40)]
    csv.write_text("a,b,c,d,y\n" + "\n".join(rows) + "\n")
    recipe = dp.Recipe(dataset=str(csv), task="regression", epochs=1, teacher=str(teacher))
    with pytest.raises(ConfigError, match="teacher: distillation needs a classification"):
        distill_run(recipe, verbose=False)
