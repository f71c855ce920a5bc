"""Recipe: the field table, validation of every key, normalization, TOML, replace, to_dict."""

from __future__ import annotations

import json
import re

import pytest

import deltaprop as dp
from deltaprop.errors import ConfigError
from deltaprop.recipe import FIELD_SPECS, FIELDS, TRAIN_OPTIONS, Recipe, read_toml

# key -> a bad value (each alone, on top of the defaults).
BAD = {
    "dataset": 3,
    "label": 1.5,
    "task": "clustering",
    "delimiter": ";;",
    "drop": 3,
    "impute": "mode",
    "class_weight": "even",
    "model": "rnn",
    "hidden": "10,x",
    "channels": "",
    "residual": "yes",
    "architecture": [{"type": "conv3d"}],
    "activation": "swish2",
    "init": "magic",
    "optimizer": "lbfgs",
    "lr": 0,
    "momentum": -0.5,
    "weight_decay": -0.1,
    "schedule": "triangle",
    "warmup": -1,
    "epochs": 0,
    "descent": "sideways",
    "batch_size": 0,
    "l1": -1.0,
    "l2": float("nan"),
    "dropout": 1.0,
    "batchnorm": 1,
    "layernorm": "yes",
    "augment": "wobble",
    "synthetic": 3,  # a path
    "clip_norm": 0.0,
    "clip_value": -2.0,
    "early_stopping": 0,
    "validation_split": 1.0,
    "cv": 1,
    "log_every": 0,
    "seed": -1,
    "test_size": 1.5,
    "drop_last": None,
    "compile": "yes",
    "lanes": 0,
    "checkpoint": 7,
    "resume": ["a"],
    "save": 1,
    "metrics_out": 2.0,
    "plot": True,
    # scarce labels and semi-supervised training (issue 12)
    "labels_per_class": 0,
    "semi": "cotraining",
    "semi_threshold": 1.5,
    "semi_rounds": 0,
    "semi_weight": -1.0,
    "semi_ramp_up": -1,
    "semi_ema_decay": 1.0,
    "semi_augment": "mixup",
    "tensorboard": 3,
    "mlflow": "yes",
    "distributed": "yes",
    "device": "tpu",
    "init_from": 7,
    "freeze": "0-a",
    "head_lr": 0.0,
    "body_lr": -1.0,
    "teacher": 3,
    "temperature": 0.0,
    "alpha": 1.5,
}


def test_fields_are_the_table_with_its_defaults():
    import dataclasses

    names = [f.name for f in dataclasses.fields(Recipe)]
    assert names == [f.name for f in FIELDS] == list(TRAIN_OPTIONS)
    assert set(BAD) == set(names)  # every key has a bad-value test below
    r = Recipe()
    # hidden and batchnorm: the mlp's defaults (a cnn's are (128,) and True)
    normalized = {"hidden": (256, 128), "channels": (32, 64), "batchnorm": False}
    for spec in FIELDS:
        expected = normalized.get(spec.name, spec.default)
        assert getattr(r, spec.name) == expected, spec.name


@pytest.mark.parametrize("key", list(BAD))
def test_every_key_rejects_a_bad_value_naming_the_key(key):
    with pytest.raises(ConfigError, match=rf"^{key}\b"):
        Recipe(**{key: BAD[key]})
    # architecture has no flag (a list of tables, from TOML): named as its key from the CLI too
    flag = "--" + key.replace("_", "-") if FIELD_SPECS[key].has_flag else re.escape(key)
    with pytest.raises(ConfigError, match=rf"^{flag}\b"):
        Recipe(**{key: BAD[key]}, source="cli")


def test_rules_between_keys():
    with pytest.raises(
        ConfigError, match=r"^momentum: expected a value in \[0, 1\) with optimizer"
    ):
        Recipe(optimizer="adam", momentum=0.9)
    assert Recipe(optimizer="rmsprop", momentum=0.5).momentum == 0.5
    with pytest.raises(ConfigError, match="^warmup: .* < epochs"):
        Recipe(warmup=5, epochs=5)
    assert Recipe(warmup=4, epochs=5).warmup == 4
    with pytest.raises(ConfigError, match="^batchnorm and layernorm: expected at most one"):
        Recipe(batchnorm=True, layernorm=True)
    with pytest.raises(ConfigError, match="^--batchnorm and --layernorm"):
        Recipe(batchnorm=True, layernorm=True, source="cli")
    # A validation part by default (its curves are plotted); 0 opts out; None (Python) gets
    # 0.1 when early stopping or plateau needs a validation score.
    assert Recipe().validation_split == 0.1 and Recipe(validation_split=0).validation_split == 0
    assert Recipe(validation_split=None).validation_split is None
    assert Recipe(validation_split=None, early_stopping=3).validation_split == 0.1
    assert Recipe(early_stopping=3).validation_split == 0.1
    assert Recipe(schedule="Plateau").validation_split == 0.1
    assert Recipe(early_stopping=3, validation_split=0.25).validation_split == 0.25


def test_values_are_normalized():
    r = Recipe(hidden="128, 64", activation="Leaky-ReLU", optimizer=" Adam ", lr=1,
               schedule="cosine_restarts", descent="MiniBatch", init=" he ")  # fmt: skip
    assert r.hidden == (128, 64) and r.activation == "leaky_relu" and r.optimizer == "adam"
    assert r.lr == 1.0 and isinstance(r.lr, float)
    assert r.schedule == "cosine-restarts" and r.descent == "minibatch" and r.init == "he"
    assert Recipe(hidden=[8, 4]).hidden == (8, 4) == Recipe(hidden=(8, 4)).hidden
    assert Recipe(hidden="").hidden == () == Recipe(hidden=[]).hidden
    assert Recipe(init="constant:0.5").init == "constant:0.5"
    for bad in ([8, 0], [True], "8,,4", 8):
        with pytest.raises(ConfigError, match="^hidden: expected positive integers"):
            Recipe(hidden=bad)


def test_names_of_every_table_are_accepted():
    for name in dp.nn.ACTIVATIONS:
        assert Recipe(activation=name.upper()).activation == name
    for name in dp.optim.OPTIMIZERS:
        assert Recipe(optimizer=name).optimizer == name
    for name in ("none", *dp.optim.SCHEDULES, "plateau"):
        assert Recipe(schedule=name).schedule == name
    for name in dp.data.DESCENTS:
        assert Recipe(descent=name).descent == name


def test_replace_is_validated_and_keeps_the_source():
    r = Recipe(dataset="iris", epochs=10)
    r2 = r.replace(lr=0.01, hidden="4")
    assert (r2.lr, r2.hidden, r2.dataset, r.lr) == (0.01, (4,), "iris", None)
    with pytest.raises(ConfigError, match="^lr:"):
        r.replace(lr=-1)
    with pytest.raises(ConfigError, match="unknown key 'learning_rate'.*allowed keys: dataset"):
        r.replace(learning_rate=0.1)
    cli = Recipe(source="cli")
    with pytest.raises(ConfigError, match="^--lr:"):
        cli.replace(lr=-1)
    with pytest.raises(dataclasses_error()):
        r.epochs = 3  # frozen


def dataclasses_error():
    import dataclasses

    return dataclasses.FrozenInstanceError


def test_to_dict_is_json_and_round_trips():
    r = Recipe(dataset="wine", hidden=[64, 32], activation="tanh", optimizer="adam", lr=1e-3,
               early_stopping=5, save="m.safetensors")  # fmt: skip
    d = r.to_dict()
    assert list(d) == list(TRAIN_OPTIONS)
    assert d["hidden"] == "64,32" and d["validation_split"] == 0.1
    assert json.loads(json.dumps(d)) == d
    assert Recipe.from_dict(d) == r
    assert Recipe().to_dict()["hidden"] == "256,128"
    assert Recipe(hidden="").to_dict()["hidden"] == ""
    with pytest.raises(ConfigError, match="unknown key 'learning_rate'"):
        Recipe.from_dict({"learning_rate": 0.1})
    assert Recipe.from_dict({"log-every": 2}).log_every == 2


def test_from_toml_train_table_and_top_level(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text('[train]\ndataset = "iris"\nhidden = [8, 4]\nlr = 1\nlog-every = 1\n')
    r = Recipe.from_toml(cfg)
    assert (r.dataset, r.hidden, r.lr, r.log_every, r.epochs) == ("iris", (8, 4), 1.0, 1, 30)
    cfg.write_text('optimizer = "Nesterov"\nlayernorm = true\nvalidation-split = 0.2\n')
    r = Recipe.from_toml(str(cfg))
    assert (r.optimizer, r.layernorm, r.validation_split) == ("nesterov", True, 0.2)
    # Round trip: to_dict -> TOML -> Recipe.
    full = Recipe(dataset="iris", hidden="16,8", lr=0.05, dropout=0.1, batchnorm=True)
    lines = [f"{k} = {json.dumps(v)}" for k, v in full.to_dict().items() if v is not None]
    cfg.write_text("\n".join(lines) + "\n")
    assert Recipe.from_toml(cfg) == full


def test_from_toml_errors(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text("learning_rate = 0.1\n")
    with pytest.raises(
        ConfigError, match=r"^config: unknown key 'learning_rate' in .*allowed keys"
    ):
        Recipe.from_toml(cfg)
    with pytest.raises(ConfigError, match=r"^--config: unknown key"):
        read_toml(cfg, source="cli")
    cfg.write_text("lr = [\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        Recipe.from_toml(cfg)
    cfg.write_text('epochs = "ten"\n')
    with pytest.raises(
        ConfigError, match=re.escape("config key 'epochs': expected int, got 'ten'")
    ):
        Recipe.from_toml(cfg)
    cfg.write_text("batchnorm = 1\n")
    with pytest.raises(ConfigError, match="batchnorm.*expected bool"):
        Recipe.from_toml(cfg)
    cfg.write_text("epochs = 0\n")
    with pytest.raises(ConfigError, match="^epochs: expected an integer >= 1"):
        Recipe.from_toml(cfg)
    with pytest.raises(ConfigError, match="file not found"):
        Recipe.from_toml(tmp_path / "missing.toml")


def test_public_names():
    assert dp.Recipe is Recipe and dp.run is dp.recipe.run
    assert callable(dp.recipe.diagnose_run) and callable(dp.nn.mlp)
    with pytest.raises(ConfigError, match="^source:"):
        Recipe(source="toml")


def test_train_and_diagnose_refuse_a_teacher_naming_distill(tmp_path):
    # A config written for `deltaprop distill` must not train or diagnose without its teacher.
    recipe = Recipe(dataset="iris", teacher=str(tmp_path / "t.safetensors"), epochs=1)
    for call in (dp.run, dp.recipe.diagnose_run):
        with pytest.raises(ConfigError, match="teacher: .*`deltaprop distill`"):
            call(recipe)
