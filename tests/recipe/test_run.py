"""run() and diagnose_run(): the same numbers as the command line, the outputs written, and the
doctor's remedies as valid recipe changes."""

from __future__ import annotations

import json

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.cli import main
from deltaprop.diagnostics import Remedy, diagnose
from deltaprop.errors import ConfigError
from deltaprop.recipe import Recipe, diagnose_run, run

TINY = {"dataset": "iris", "hidden": "8", "epochs": 4, "log_every": 2, "seed": 3}


def test_run_gives_the_metrics_of_deltaprop_train(tmp_path, capsys):
    path = tmp_path / "cli.json"
    argv = [
        "train",
        "--dataset",
        "iris",
        "--hidden",
        "8",
        "--epochs",
        "4",
        "--log-every",
        "2",
        "--seed",
        "3",
        "--optimizer",
        "Adam",
        "--lr",
        "0.01",
        "--metrics-out",
        str(path),
    ]
    assert main(argv) == 0
    cli_out = capsys.readouterr().out
    result = run(Recipe(**TINY, optimizer="adam", lr=0.01))
    lib_out = capsys.readouterr().out
    cli = json.loads(path.read_text())
    assert set(cli) == set(result.metrics)
    for key in cli:
        if key != "seconds":
            assert cli[key] == result.metrics[key], key
    # The epoch lines are the Trainer's, the same in both; the summary line is the CLI's.
    epochs = [line.split("  ")[:2] for line in lib_out.splitlines()]
    assert epochs == [line.split("  ")[:2] for line in cli_out.splitlines()[:-1]]
    assert "test_accuracy" in cli_out.splitlines()[-1] and "test_accuracy" not in lib_out
    assert result.history.history["loss"][-1] == cli["train_loss"]
    assert result.model is result.trainer.model and result.cv is None


def test_run_writes_its_outputs(tmp_path, capsys):
    model_path, metrics_path = tmp_path / "m.safetensors", tmp_path / "m.json"
    recipe = Recipe(**TINY, save=model_path, metrics_out=str(metrics_path), cv=2)
    result = run(recipe, verbose=False)
    out = capsys.readouterr().out
    assert "2-fold cross-validation" not in out  # log defaults to print only when verbose
    assert json.loads(metrics_path.read_text()) == result.metrics
    assert result.metrics["cv"]["k"] == 2 and result.cv["mean"] == result.metrics["cv"]["mean"]
    meta = dp.read_metadata(str(model_path))["deltaprop_cli"]
    assert meta["settings"] == recipe.to_dict() and meta["settings"]["hidden"] == "8"
    assert meta["task"] == "classification" and "standardizer" in meta
    lines = []
    run(recipe.replace(save=None, metrics_out=None), verbose=False, log=lines.append)
    assert lines[0].startswith("iris: 108 train + 12 validation / 30 test rows")  # the header
    assert lines[1].startswith("2-fold cross-validation: loss")


def test_run_checks_outputs_before_training(tmp_path, capsys):
    with pytest.raises(ConfigError, match="^save: folder does not exist"):
        run(Recipe(**TINY, save=str(tmp_path / "no" / "m.safetensors")))
    with pytest.raises(ConfigError, match="^--metrics-out: folder does not exist"):
        run(Recipe(**TINY, metrics_out=str(tmp_path / "no" / "m.json"), source="cli"))
    assert capsys.readouterr().out == ""  # no epoch was trained
    with pytest.raises(ConfigError, match="^recipe: expected a Recipe"):
        run({"dataset": "iris"})


def test_run_refuses_two_outputs_on_one_file_before_training(tmp_path, capsys):
    # Python names the keys as written (``checkpoint``), the CLI as flags (--checkpoint).
    same = str(tmp_path / "same")
    with pytest.raises(ConfigError, match="^checkpoint: .* is also the save file"):
        run(Recipe(**TINY, save=same, checkpoint=same))
    with pytest.raises(ConfigError, match="^--plot: .* is also the --metrics-out file"):
        run(Recipe(**TINY, metrics_out=same, plot=same, source="cli"))
    assert capsys.readouterr().out == "" and not (tmp_path / "same").exists()


def test_diagnose_run_returns_the_findings(capsys):
    result = diagnose_run(Recipe(**TINY))
    assert capsys.readouterr().out == ""  # a library function: nothing printed
    assert result.recipe.validation_split == 0.1  # the learning-curve verdict needs val loss
    assert result.error is None and set(result.test) == {"loss", "accuracy"}
    assert result.verdict.status and result.init_report is not None
    assert "grad norm" in result.monitor.table()
    for remedy in result.verdict.remedies:
        result.recipe.replace(**remedy.changes)
    lines = []
    diagnose_run(Recipe(**TINY), log=lines.append)
    assert len(lines) == 1 and lines[0] == result.init_report.text()
    for key, value in (("cv", 2), ("save", "m.safetensors"), ("metrics_out", "m.json")):
        with pytest.raises(ConfigError, match=f"^{key}: not supported by diagnose"):
            diagnose_run(Recipe(**TINY, **{key: value}))
    # diagnose trains supervised, on one process: neither would be honoured
    semi = {"labels_per_class": 3, "semi": "self-training"}
    for key, values in (("semi", semi), ("distributed", {"distributed": True})):
        with pytest.raises(ConfigError, match=f"^{key}: not supported by diagnose"):
            diagnose_run(Recipe(**TINY, **values))


def test_diagnose_run_checks_the_device_first(monkeypatch):
    import importlib

    from deltaprop import backend

    diagnose_module = importlib.import_module("deltaprop.recipe.diagnose")
    monkeypatch.setattr(backend, "_cp", None)  # as without CuPy, even where it is installed
    monkeypatch.setattr(diagnose_module, "load_data", None)  # before any work: not called
    with pytest.raises(ConfigError, match="^device: 'cuda' needs CuPy"):
        diagnose_run(Recipe(**TINY, device="cuda"))


def test_diverging_diagnose_run_is_a_finding():
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        result = diagnose_run(Recipe(**TINY, lr=1e6))
    assert result.verdict.status in ("diverging", "exploding")
    assert result.test is None or result.error is None
    for remedy in result.verdict.remedies:
        fixed = result.recipe.replace(**remedy.changes)
        assert fixed != result.recipe or not remedy.changes


def _rec(epoch, g_first, g_last, dead=None, weight=1.0):
    layers = {
        "0": {"grad_norm": g_first, "weight_norm": weight, "dead_fraction": dead},
        "2": {"grad_norm": g_last, "weight_norm": weight, "dead_fraction": None},
    }
    return {"epoch": epoch, "step": None, "first_last_ratio": g_first / g_last, "layers": layers}


RECIPES = [
    Recipe(),
    Recipe(activation="sigmoid", init="normal", hidden="8,8,8,8,8,8"),
    Recipe(activation="relu", init="he", layernorm=True),
    Recipe(optimizer="adam", lr=0.01, batch_size=16, epochs=12),
]
SOURCES = [
    [_rec(0, 1e-9, 1.0)],  # vanishing
    [_rec(0, 1.0, 3e4)],  # exploding
    [_rec(0, 1.0, 1.0, dead=0.8)],  # dead units
    {"loss": [1.0, float("nan")]},  # diverging
    {"loss": [1.0, 0.5, 0.3, 0.2, 0.1, 0.05], "val_loss": [1.0, 0.5, 0.4, 0.6, 0.7, 0.8]},
    {"loss": [1.0, 0.4, 0.9, 0.3]},  # noisy
    {"loss": [1.0, 0.98], "accuracy": [0.3, 0.35]},  # underfitting
    {
        "loss": [1.0, 0.5, 0.6, 0.7, 0.8],
        "gradient_flow": [_rec(i, 1.0, 1.0, weight=1.0 + i) for i in range(5)],
    },  # lr too high
]


@pytest.mark.parametrize("recipe", RECIPES, ids=range(len(RECIPES)))
def test_doctor_remedies_are_valid_recipe_changes(recipe):
    statuses = set()
    for source in SOURCES:
        verdict = diagnose(source, recipe)
        assert verdict.status != "healthy"
        statuses.add(verdict.status)
        assert verdict.remedies
        for remedy in verdict.remedies:
            assert isinstance(remedy, Remedy) and isinstance(remedy.text, str)
            text, changes = remedy  # still a (text, changes) pair
            recipe.replace(**changes)
        # The Recipe and its dict form (what a model file keeps) give the same verdict.
        assert diagnose(source, recipe.to_dict()) == verdict
    assert len(statuses) >= 7


def test_batchnorm_remedy_turns_layernorm_off():
    recipe = Recipe(activation="relu", init="he", layernorm=True)
    verdict = diagnose([_rec(0, 1e-9, 1.0)], recipe)
    assert verdict.remedies[0].changes == {"batchnorm": True, "layernorm": False}
    assert recipe.replace(**verdict.remedies[0].changes).batchnorm
