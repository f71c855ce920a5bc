"""The recipe's scarce-label keys: labels_per_class (K labeled rows per class of the training
part, the rest unlabeled, the test part untouched), semi and its options (one method's options
only with it), the run through deltaprop.semi, TOML, and every bad value naming the key."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import semi
from deltaprop.errors import ConfigError
from deltaprop.recipe import FIELD_SPECS, Recipe, load_data, run
from deltaprop.recipe.scarce import METHOD_KEYS

FAST = {"dataset": "iris", "hidden": "8", "epochs": 2, "log_every": 1, "seed": 1,
        "validation_split": 0.0}  # fmt: skip


def test_labels_per_class_keeps_k_per_class_and_the_test_part():
    full = load_data(Recipe(**FAST))
    data = load_data(Recipe(**FAST, labels_per_class=3))
    assert np.bincount(data.y_train).tolist() == [3, 3, 3]
    assert len(data.X_unlabeled) == len(full.y_train) - 9
    np.testing.assert_array_equal(data.X_test, full.X_test)
    np.testing.assert_array_equal(data.y_test, full.y_test)
    again = load_data(Recipe(**FAST, labels_per_class=3))
    np.testing.assert_array_equal(again.X_train, data.X_train)
    other = load_data(Recipe(**{**FAST, "seed": 2}, labels_per_class=3))
    assert not np.array_equal(other.X_unlabeled, data.X_unlabeled[: len(other.X_unlabeled)]) or (
        not np.array_equal(other.X_train, data.X_train)
    )


def test_supervised_run_on_the_labeled_rows_and_the_header(capsys):
    lines = []
    result = run(Recipe(**FAST, labels_per_class=4), verbose=False, log=lines.append)
    assert lines[-1].startswith(
        "iris: 12 labeled + 108 unlabeled train (4 labeled per class) / 30 test rows"
    )
    assert result.metrics["test_accuracy"] >= 0


@pytest.mark.parametrize("method", ["self-training", "mean-teacher"])
def test_semi_runs_through_the_method(method, capsys):
    lines = []
    recipe = Recipe(**{**FAST, "validation_split": 0.2, "epochs": 6}, labels_per_class=5,
                    semi=method, optimizer="adam", lr=0.01)  # fmt: skip
    result = run(recipe, verbose=True, log=lines.append)
    assert lines[-1] == (
        "iris: 12 labeled + 3 validation + 105 unlabeled train (5 labeled per class) / 30 test "
        f"rows, 4 features, 3 classes; MLP 4-8-3 relu, semi {method}"
    )
    out = capsys.readouterr().out
    rounds = 5 if method == "self-training" else 1  # the default 4 rounds + round 0
    assert result.metrics["epochs"] == 6 * rounds
    assert "val_accuracy" in result.history.history
    assert ("self-training round 4/4" in out) == (method == "self-training")
    assert result.metrics["test_accuracy"] > 0.5


def test_options_reach_the_method(monkeypatch):
    seen = {}
    original = semi.SemiSupervised.fit

    def spy(self, *args, **kwargs):
        seen["method"] = self
        return original(self, *args, **kwargs)

    monkeypatch.setattr(semi.SemiSupervised, "fit", spy)
    run(Recipe(**FAST, labels_per_class=3, semi="self_training", semi_threshold=0.5,
               semi_rounds=1), verbose=False)  # fmt: skip
    assert repr(seen["method"]) == "SelfTraining(threshold=0.5, rounds=1)"
    mt = {"semi_weight": 2, "semi_ramp_up": 0, "semi_ema_decay": 0.9, "semi_augment": "noise"}
    run(Recipe(**FAST, labels_per_class=3, semi="Mean-Teacher", **mt), verbose=False)
    assert repr(seen["method"]) == (
        "MeanTeacher(weight=2.0, ramp_up=0, ema_decay=0.9, augment='noise')"
    )


def test_the_help_texts_give_the_methods_defaults():
    for method, keys in METHOD_KEYS.items():
        params = inspect.signature(semi.METHODS[method]).parameters
        for key in keys:
            default = params[key.removeprefix("semi_")].default
            assert (
                f"(default: {default:g})" in FIELD_SPECS[key].help
                if not isinstance(default, str)
                else f"(default: {default})" in FIELD_SPECS[key].help
            )


def test_toml_keys(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('labels-per-class = 5\nsemi = "mean-teacher"\nsemi_weight = 3\n'
                    'semi-augment = ["noise"]\n')  # fmt: skip
    r = Recipe.from_toml(path)
    assert (r.labels_per_class, r.semi, r.semi_weight, r.semi_augment) == (
        5, "mean-teacher", 3.0, "noise")  # fmt: skip


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"semi": "self-training"},
            "semi self-training: trains on unlabeled rows; give labels_per_class K",
        ),
        (
            {"semi": "cotraining", "labels_per_class": 2},
            "semi: expected one of none, self-training, mean-teacher, got 'cotraining'",
        ),
        ({"labels_per_class": 0}, "labels_per_class: expected an integer >= 1"),
        (
            {"labels_per_class": 2, "semi": "mean-teacher", "semi_threshold": 0.5},
            "semi_threshold: an option of semi self-training, got semi mean-teacher",
        ),
        ({"semi_weight": 1.0}, "semi_weight: an option of semi mean-teacher, got semi none"),
        (
            {"labels_per_class": 2, "semi": "self-training", "semi_threshold": 1.5},
            "semi_threshold: expected a number in [0, 1)",
        ),
        (
            {"labels_per_class": 2, "semi": "self-training", "semi_rounds": 0},
            "semi_rounds: expected an integer >= 1",
        ),
        (
            {"labels_per_class": 2, "semi": "mean-teacher", "semi_ema_decay": 1.0},
            "semi_ema_decay: expected a number in [0, 1)",
        ),
        (
            {"labels_per_class": 2, "semi": "mean-teacher", "semi_augment": "noise,mixup"},
            "semi_augment: mixup needs labels",
        ),
        (
            {"labels_per_class": 2, "semi": "mean-teacher", "checkpoint": "c.ckpt"},
            "checkpoint: not with semi mean-teacher",
        ),
        (
            {"labels_per_class": 2, "semi": "self-training", "cv": 3},
            "cv: not with semi self-training",
        ),
        (
            {"labels_per_class": 2, "semi": "mean-teacher", "compile": True},
            "compile: not with semi mean-teacher (its consistency loss would be left out: "
            "the compiled step does not run it)",
        ),
        (
            {"labels_per_class": 2, "semi": "mean-teacher", "distributed": True},
            "distributed: not with semi mean-teacher",
        ),
    ],
)
def test_bad_values_name_the_key(values, message):
    with pytest.raises(ConfigError) as err:
        Recipe(**values)
    assert str(err.value).startswith(message)


def test_bad_values_from_the_command_line_name_the_flag():
    with pytest.raises(ConfigError, match="^--semi self-training: trains on unlabeled rows; "
                       "give --labels-per-class K"):  # fmt: skip
        Recipe(semi="self-training", source="cli")


def test_too_many_labels_per_class_names_the_class_and_writes_nothing(tmp_path):
    out = tmp_path / "m.json"
    with pytest.raises(ConfigError) as err:
        run(Recipe(**FAST, labels_per_class=41, metrics_out=str(out)), verbose=False)
    assert str(err.value) == (
        "labels_per_class: expected at most 40, the rows of the smallest class ('setosa' has "
        "40 in the training part), got 41"
    )
    assert not out.exists()


def test_regression_and_image_steps_on_rows_are_refused(tmp_path):
    path = tmp_path / "r.csv"
    rows = [f"{i},{i * 0.37 % 1:.3f},{i * 1.5:.2f}" for i in range(40)]
    path.write_text("a,b,target\n" + "\n".join(rows) + "\n")
    with pytest.raises(ConfigError, match="labels_per_class: keeps labeled rows per class, and "
                       ".*r.csv is a regression task"):  # fmt: skip
        run(Recipe(**{**FAST, "dataset": str(path)}, task="regression", labels_per_class=2),
            verbose=False)  # fmt: skip
    with pytest.raises(ConfigError, match="semi_augment: shift needs images, and iris"):
        run(Recipe(**FAST, labels_per_class=2, semi="mean-teacher", semi_augment="shift"),
            verbose=False)  # fmt: skip


def test_semi_run_is_reproducible():
    recipe = Recipe(**FAST, labels_per_class=3, semi="mean-teacher")
    a = run(recipe, verbose=False).model.state_dict()
    b = run(recipe, verbose=False).model.state_dict()
    assert all((a[k] == b[k]).all() for k in a)
    assert dp.semi is semi


def test_synthetic_rows_are_refused_with_scarce_labels(tmp_path):
    # The GAN behind a synthetic file saw every training label: mixing its rows into a
    # scarce-label run would leak the labels labels_per_class hides.
    with pytest.raises(ConfigError, match="synthetic: not with labels_per_class"):
        Recipe(labels_per_class=5, synthetic=str(tmp_path / "s.npz"))
    with pytest.raises(ConfigError, match="--synthetic: not with --labels-per-class"):
        Recipe(labels_per_class=5, synthetic=str(tmp_path / "s.npz"), source="cli")
