import re

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.cli import main
from deltaprop.cli.options import remedy_flags
from deltaprop.diagnostics import diagnose, init_check
from deltaprop.nn import mlp as build_mlp

DEEP = "32,32,32,32,32,32,32,32,32,32"


def _run(capsys, *argv):
    assert main(["diagnose", "--epochs", "15", *argv]) == 0
    out = capsys.readouterr().out
    verdict = re.search(r"^verdict: (.*)$", out, re.M).group(1)
    first = re.search(r"^1\. (--[^(]*?)\s\s\(", out, re.M)
    acc = re.search(r"test_accuracy ([0-9.]+)", out)
    if "healthy" in out:
        assert verdict == "healthy" and "remedies:" not in out
    return verdict, (first.group(1).split() if first else []), acc and float(acc.group(1))


def test_vanishing_then_first_remedy_is_healthy(capsys):
    argv = ["--hidden", DEEP, "--activation", "sigmoid", "--init", "normal"]
    verdict, fix, _ = _run(capsys, *argv)
    assert verdict == "vanishing gradients"
    assert fix == ["--activation", "relu", "--init", "he", "--batchnorm"]
    verdict, _, acc = _run(capsys, *argv, *fix)
    assert verdict == "healthy" and acc >= 0.9


def test_huge_lr_diverges_and_remedy_fixes_it(capsys):
    argv = ["--hidden", "64,64", "--activation", "relu", "--init", "he", "--lr", "50"]
    verdict, fix, _ = _run(capsys, *argv)
    assert verdict in ("diverging", "exploding gradients", "learning rate too high")
    verdict, _, acc = _run(capsys, *argv, *fix)
    assert verdict == "healthy" and acc >= 0.9


def test_no_false_alarm(capsys):
    verdict, fix, acc = _run(capsys, "--hidden", "64,64", "--activation", "relu", "--init", "he",
                             "--lr", "0.05")  # fmt: skip
    assert verdict == "healthy" and fix == [] and acc >= 0.9


def test_bad_args_exit_2(capsys):
    assert main(["diagnose", "--lr", "-1"]) == 2
    assert main(["diagnose", "--cv", "3"]) == 2
    assert "error" in capsys.readouterr().err


def _rec(epoch, g_first, g_last, dead=None):
    layers = {
        "0": {"grad_norm": g_first, "weight_norm": 1.0, "dead_fraction": dead},
        "2": {"grad_norm": g_last, "weight_norm": 1.0, "dead_fraction": None},
    }
    return {"epoch": epoch, "step": None, "first_last_ratio": g_first / g_last, "layers": layers}


def test_diagnose_hand_made_records():
    assert diagnose([_rec(0, 1.0, 1.0), _rec(1, 1.0, 2.0)]).status == "healthy"
    v = diagnose([_rec(0, 1e-9, 1.0)], {"activation": "sigmoid", "init": "normal",
                                         "hidden": "8,8"})  # fmt: skip
    assert v.status == "vanishing" and v.remedies[0][1]["activation"] == "relu"
    v = diagnose([_rec(0, 1.0, 3e4)], {"lr": 1.0})
    assert v.status == "exploding" and v.remedies[0][1] == {"lr": 0.1}
    assert "3.0e+04" in v.findings[0]
    assert diagnose([_rec(0, 1.0, 1.0, dead=0.8)]).status == "dead_units"
    hist = {"loss": [1.0, 0.5, 0.6, 0.7, 0.8], "gradient_flow": [
        {**_rec(i, 1.0, 1.0), "layers": {k: {**s, "weight_norm": 1.0 + i}
                                         for k, s in _rec(i, 1.0, 1.0)["layers"].items()}}
        for i in range(5)]}  # fmt: skip
    assert diagnose(hist, {"lr": 0.5}).status == "lr_too_high"
    assert diagnose({"loss": [1.0, float("nan")]}).status == "diverging"
    over = {"loss": [1.0, 0.5, 0.3, 0.2, 0.1, 0.05], "val_loss": [1.0, 0.5, 0.4, 0.6, 0.7, 0.8]}
    assert diagnose(over).status == "overfitting"
    assert remedy_flags({"activation": "relu", "batchnorm": True, "lr": 0.1}) == (
        "--activation relu --batchnorm --lr 0.1"
    )
    with pytest.raises(dp.ConfigError):
        diagnose(42)


def test_init_check_deep_sigmoid_vs_relu_he():
    X = np.random.default_rng(0).normal(size=(128, 64))
    dp.seed(0)
    bad = init_check(build_mlp(64, [32] * 10, 10, "sigmoid", "normal"), X)
    assert len(bad) == 11 and bad.problem == "collapse" and "xavier" in bad.recommendation
    dp.seed(0)
    good = init_check(build_mlp(64, [32] * 10, 10, "relu", "he"), X)
    assert good.problem is None and good.recommendation is None
    dp.seed(0)
    tanh = init_check(build_mlp(64, [32] * 10, 10, "tanh", "normal"), X)
    assert tanh.problem == "explode"
    with pytest.raises(dp.ConfigError):
        init_check(build_mlp(4, [3], 2, "relu", "he"), None)


def test_nothing_to_diagnose_is_an_error_not_healthy():
    from deltaprop.diagnostics import diagnose
    from deltaprop.errors import ConfigError

    with pytest.raises(ConfigError, match="history_or_records: nothing to diagnose"):
        diagnose([])


def test_diagnose_plot_writes_learning_curves_and_gradient_flow(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from deltaprop import cli

    out = tmp_path / "plots"
    code = cli.main(["diagnose", "--hidden", "16,16", "--epochs", "3", "--plot", str(out)])
    assert code == 0
    for name in ("learning_curves.png", "gradient_flow.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert "verdict:" in capsys.readouterr().out
