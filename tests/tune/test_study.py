"""run_study in this process on tiny data: the files, best.toml read back by the recipe and
reproducing the trial's score through `run`, strategies, pruning, k-fold, resume, a trial
that diverges, and bad arguments (each a ConfigError before any trial)."""

from __future__ import annotations

import csv
import json

import pytest

import deltaprop as dp
from deltaprop.errors import ConfigError
from deltaprop.tune import Choice, Float, Int, LogFloat, Space, retrain_recipe, run_study

optuna = pytest.importorskip("optuna")

BASE = dp.Recipe(dataset="iris", hidden="8", epochs=4, optimizer="adam", lr=0.05)
SPACE = Space(lr=LogFloat(1e-3, 0.1), hidden=Choice(["4", "8"]))


def study(tmp_path, name="s", **kwargs):
    options = {"strategy": "random", "trials": 4, "out": str(tmp_path / name), "log": None,
               "retrain": False}  # fmt: skip
    options.update(kwargs)
    recipe = options.pop("recipe", BASE)
    space = options.pop("space", SPACE)
    return run_study(recipe, space, **options)


def rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_files_and_best_toml_reproduce_the_best_trial(tmp_path):
    lines = []
    result = study(tmp_path, trials=4, retrain=True, log=lines.append)
    out = tmp_path / "s"
    for name in ("trials.csv", "best.toml", "best.safetensors", "best_metrics.json",
                 "history.png", "study.journal"):  # fmt: skip
        assert (out / name).is_file(), name
    table = rows(out / "trials.csv")
    assert [r["number"] for r in table] == ["0", "1", "2", "3"]
    assert set(table[0]) >= {"state", "value", "lr", "hidden", "epochs", "seconds", "reason"}
    assert all(r["state"] == "COMPLETE" and r["epochs"] == "4" for r in table)
    assert sum(line.startswith("trial ") for line in lines) == 4
    assert any(line.startswith("best: trial") for line in lines)
    # best.toml is a recipe file: it reads back into the very recipe of the best trial ...
    recipe = dp.Recipe.from_toml(out / "best.toml")
    assert recipe == result.best_recipe
    assert recipe.lr == result.study.best_trial.params["lr"]
    # ... and training it again gives the trial's validation score, bit for bit
    again = dp.run(recipe, verbose=False)
    assert again.metrics["val_accuracy"] == result.best_value
    metrics = json.loads((out / "best_metrics.json").read_text())
    assert metrics["best_trial"] == result.best_number
    assert metrics["val_accuracy"] == result.best_value
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and metrics["retrained_on"] == "train+validation"
    model = dp.load(str(out / "best.safetensors"))
    assert model is not None


def test_kfold_value_is_the_mean_train_prints(tmp_path):
    recipe = BASE.replace(cv=3)
    result = study(tmp_path, recipe=recipe, trials=2, pruner="none")
    best = dp.Recipe.from_toml(tmp_path / "s" / "best.toml")
    assert best.cv == 3
    again = dp.run(best, verbose=False)
    assert again.metrics["cv"]["mean"]["accuracy"] == pytest.approx(result.best_value, abs=1e-12)
    # the pruner saw the running mean: k * epochs steps
    trial = result.study.best_trial
    assert sorted(trial.intermediate_values) == list(range(3 * 4))
    assert trial.user_attrs["epochs"] == 12


def test_same_study_seed_same_trials(tmp_path):
    a = study(tmp_path, "a", strategy="bayes", startup_trials=2, trials=4, study_seed=7)
    b = study(tmp_path, "b", strategy="bayes", startup_trials=2, trials=4, study_seed=7)
    c = study(tmp_path, "c", strategy="bayes", startup_trials=2, trials=4, study_seed=8)
    pa, pb, pc = ([(t.params, t.value) for t in r.study.trials] for r in (a, b, c))
    assert pa == pb and pa != pc


def test_grid_runs_every_combination_once(tmp_path):
    space = Space(lr=Choice([0.01, 0.1]), batch_size=Int(16, 32, step=16))
    result = study(tmp_path, strategy="grid", space=space, trials=None)
    combos = sorted((t.params["lr"], t.params["batch_size"]) for t in result.study.trials)
    assert combos == [(0.01, 16), (0.01, 32), (0.1, 16), (0.1, 32)]
    with pytest.raises(ConfigError, match="lr: a grid search needs listed values"):
        study(tmp_path, "g2", strategy="grid")


@pytest.mark.slow
def test_gaussian_process_sampler(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("scipy")
    result = study(tmp_path, strategy="bayes", sampler="gp", startup_trials=2, trials=3,
                   space=Space(lr=LogFloat(1e-3, 0.1)))  # fmt: skip
    assert isinstance(result.study.sampler, optuna.samplers.GPSampler)
    assert len(result.study.trials) == 3


@pytest.mark.parametrize(
    "pruner, cls",
    [("median", "MedianPruner"), ("hyperband", "HyperbandPruner"), ("none", "NopPruner")],
)
def test_pruners_prune_poor_trials(tmp_path, pruner, cls):
    # lr 1e-5 barely moves: with a median over earlier, better trials it is stopped early
    # (study seed 9: the grid sampler takes it last)
    space = Space(lr=Choice([0.05, 0.05001, 0.05002, 0.05003, 0.05004, 0.05005, 1e-5]))
    recipe = BASE.replace(epochs=6)
    result = study(tmp_path, strategy="grid", space=space, trials=None, pruner=pruner,
                   recipe=recipe, study_seed=9)  # fmt: skip
    assert type(result.study.pruner).__name__ == cls
    pruned = [t for t in result.study.trials if t.state.name == "PRUNED"]
    if pruner == "none":
        assert not pruned
    elif pruner == "median":
        assert pruned and all(t.user_attrs["epochs"] < 6 for t in pruned)
        assert all("pruned after epoch" in t.user_attrs["reason"] for t in pruned)
        table = rows(tmp_path / "s" / "trials.csv")
        assert any(r["state"] == "PRUNED" and r["reason"].startswith("pruned") for r in table)


def test_a_diverging_trial_fails_with_its_reason_and_the_study_goes_on(tmp_path):
    space = Space(lr=Choice([1e5, 0.05]))
    result = study(tmp_path, strategy="grid", space=space, trials=None)
    states = {t.params["lr"]: t for t in result.study.trials}
    assert states[1e5].state.name == "FAIL"
    assert (
        "diverged" in states[1e5].user_attrs["reason"] or "NaN" in states[1e5].user_attrs["reason"]
    )
    assert states[0.05].state.name == "COMPLETE"
    table = rows(tmp_path / "s" / "trials.csv")
    assert any(r["state"] == "FAIL" and r["reason"] for r in table)


def test_values_that_do_not_go_together_fail_the_trial(tmp_path):
    # each value is fine with the recipe; stochastic descent with batch norm is not
    space = Space(descent=Choice(["stochastic", "minibatch"]), batchnorm=Choice([True, False]))
    result = study(
        tmp_path, strategy="grid", space=space, trials=None, recipe=BASE.replace(epochs=1)
    )
    failed = [t for t in result.study.trials if t.state.name == "FAIL"]
    assert len(failed) == 1 and "do not go together" in failed[0].user_attrs["reason"]
    assert failed[0].params == {"descent": "stochastic", "batchnorm": True}
    # a value the recipe never accepts is refused before any trial
    with pytest.raises(ConfigError, match="descent 'stochastic'.*batch normalization"):
        study(tmp_path, "t2", strategy="grid", space=Space(descent=Choice(["stochastic"])),
              recipe=BASE.replace(batchnorm=True))  # fmt: skip


def test_resume_runs_the_rest_and_refuses_other_settings(tmp_path):
    first = study(tmp_path, trials=2)
    assert len(first.study.trials) == 2
    second = study(tmp_path, trials=4)
    assert len(second.study.trials) == 4
    assert len(rows(tmp_path / "s" / "trials.csv")) == 4
    third = study(tmp_path, trials=4)  # nothing left to do
    assert len(third.study.trials) == 4
    with pytest.raises(ConfigError, match="another recipe"):
        study(tmp_path, trials=5, recipe=BASE.replace(epochs=5))
    with pytest.raises(ConfigError, match="another space"):
        study(tmp_path, trials=5, space=Space(lr=LogFloat(1e-3, 0.2)))


@pytest.mark.slow
def test_sqlite_storage(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    result = study(tmp_path, trials=2, storage=url)
    assert len(result.study.trials) == 2 and (tmp_path / "study.db").is_file()
    assert not (tmp_path / "s" / "study.journal").exists()
    again = study(tmp_path, trials=3, storage=url)
    assert len(again.study.trials) == 3


def test_retrain_recipe_uses_the_kept_epochs():
    best = BASE.replace(early_stopping=3, epochs=50, warmup=2)
    final = retrain_recipe(best, best_epoch=7)
    assert (final.epochs, final.early_stopping, final.validation_split, final.cv) == (
        7,
        None,
        0.0,
        None,
    )
    assert retrain_recipe(best, best_epoch=1).epochs == 3  # warm-up must fit
    assert retrain_recipe(BASE, None).epochs == BASE.epochs


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"strategy": "annealing"}, "strategy"),
        ({"sampler": "gp"}, "sampler: gp is a Bayesian sampler"),
        ({"pruner": "patient"}, "pruner"),
        ({"workers": 0}, "workers"),
        ({"trials": 0}, "trials"),
        ({"study_seed": -1}, "study_seed"),
        ({"study_name": ""}, "study_name"),
        ({"storage": "nowhere"}, "storage: expected a database URL"),
        ({"storage": "postgresql://nobody@127.0.0.1:1/none"}, "storage: cannot open"),
        ({"storage": "sqlite:////no/such/folder/x.db"}, "storage: cannot open"),
        ({"recipe": BASE.replace(save="m.safetensors")}, "save: a search writes its own files"),
        ({"recipe": BASE.replace(validation_split=0.0)}, "validation_split: a search scores"),
        (
            {"recipe": BASE.replace(labels_per_class=5, semi="self-training")},
            "^semi: a search trains and scores its trials supervised",
        ),
        ({"recipe": BASE.replace(distributed=True)}, "^distributed: a search runs its trials"),
        ({"space": "lr"}, "space: expected a Space"),
        ({"recipe": "iris"}, "recipe: expected a Recipe"),
        ({"space": Space(momentum=Float(0.1, 0.9)), "recipe": BASE}, "momentum"),
    ],
)
def test_bad_arguments_fail_before_any_trial(tmp_path, kwargs, match):
    if "storage" in kwargs and "127.0.0.1" in kwargs["storage"]:
        pytest.importorskip("psycopg2")
    with pytest.raises(ConfigError, match=match):
        study(tmp_path, **kwargs)
    journal = tmp_path / "s" / "study.journal"
    assert not journal.exists() or "COMPLETE" not in journal.read_text()


def test_hide_password():
    from deltaprop.tune.storage import hide_password

    assert hide_password("postgresql://me:secret@host/db") == "postgresql://me:***@host/db"
    assert hide_password("sqlite:///a.db") == "sqlite:///a.db"


def test_a_compiled_search_scores_its_trials_as_an_eager_one(tmp_path, monkeypatch):
    # compile reaches every trial's Trainer (recipe.build's trainer_options) and changes
    # nothing but the speed: the same trials, the same scores
    from deltaprop.tune import objective

    built = []

    def build(*args, **kwargs):
        built.append(objective_build(*args, **kwargs))
        return built[-1]

    objective_build = objective.build_trainer
    monkeypatch.setattr(objective, "build_trainer", build)
    space = Space(lr=LogFloat(1e-3, 0.1))
    values = []
    for c in (False, True):
        result = study(tmp_path, name=f"c{c}", recipe=BASE.replace(compile=c), space=space,
                       trials=2)  # fmt: skip
        values.append([t.value for t in result.study.trials])
    assert values[0] == values[1] and None not in values[0]
    replayed = [t._compiled is not None and t._compiled.replays > 0 for t in built]
    assert replayed == [False, False, True, True]
