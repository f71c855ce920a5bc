"""The `deltaprop` command end to end: train, save, predict, metrics, config, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.cli import main
from deltaprop.data import Standardizer, load_dataset

FAST = ["--epochs", "3", "--hidden", "16", "--log-every", "1"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_default_train_reaches_097_on_digits(tmp_path):
    # The README's main job, as a user runs it: a real process, the default settings.
    metrics = tmp_path / "m.json"
    proc = subprocess.run(
        [sys.executable, "-m", "deltaprop", "train", "--metrics-out", str(metrics)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(metrics.read_text())
    assert result["test_accuracy"] >= 0.97
    assert set(result) >= {"test_accuracy", "test_loss", "train_accuracy", "epochs", "seconds"}
    assert result["epochs"] == 30
    assert "epoch 5/30" in proc.stdout and "epoch 30/30" in proc.stdout
    assert "test_accuracy" in proc.stdout.splitlines()[-1]


def test_log_every_prints_the_requested_epochs(capsys):
    code, out, _ = run(capsys, "train", "--epochs", "6", "--log-every", "3", "--hidden", "8")
    assert code == 0
    epochs = [line.split()[1] for line in out.splitlines() if line.startswith("epoch ")]
    assert epochs == ["3/6", "6/6"]


def test_save_then_load_and_predict(tmp_path, capsys):
    model_path = tmp_path / "digits.safetensors"
    code, out, _ = run(capsys, "train", *FAST, "--save", str(model_path), "--seed", "3")
    assert code == 0 and model_path.exists()
    model = dp.load(str(model_path))
    meta = dp.read_metadata(str(model_path))["deltaprop_cli"]
    ds = load_dataset("digits")
    X = Standardizer.from_state(meta["standardizer"]).transform(ds.X)
    with dp.no_grad():
        logits = model(dp.tensor(X)).numpy()
    assert logits.shape == (len(ds.y), 10)
    assert np.mean(logits.argmax(1) == ds.y) > 0.8

    preds_path = tmp_path / "preds.csv"
    code, out, _ = run(capsys, "predict", str(model_path), "--dataset", "digits",
                       "--out", str(preds_path))  # fmt: skip
    assert code == 0
    preds = np.loadtxt(preds_path, dtype=int, skiprows=1)  # a header row since issue 8
    np.testing.assert_array_equal(preds, logits.argmax(1))
    assert "accuracy" in out


def test_metrics_out_is_json(tmp_path, capsys):
    path = tmp_path / "metrics.json"
    code, _, _ = run(capsys, "train", *FAST, "--metrics-out", str(path))
    assert code == 0
    result = json.loads(path.read_text())
    assert result["epochs"] == 3
    assert 0.0 <= result["test_accuracy"] <= 1.0
    assert result["test_loss"] > 0 and result["seconds"] > 0


def test_config_file_and_flags_override(tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text('dataset = "iris"\nhidden = [8, 4]\nepochs = 2\nlr = 0.05\nlog-every = 1\n')
    out_path = tmp_path / "m.json"
    code, out, _ = run(capsys, "train", "--config", str(cfg), "--epochs", "4",
                       "--metrics-out", str(out_path))  # fmt: skip
    assert code == 0
    result = json.loads(out_path.read_text())
    assert result["dataset"] == "iris"
    assert result["epochs"] == 4  # the flag wins over the file


def test_same_seed_same_result(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for path in (a, b):
        assert run(capsys, "train", *FAST, "--seed", "7", "--metrics-out", str(path))[0] == 0
    ra, rb = json.loads(a.read_text()), json.loads(b.read_text())
    assert ra["test_loss"] == rb["test_loss"] and ra["train_loss"] == rb["train_loss"]


@pytest.mark.parametrize("descent", ["batch", "stochastic", "minibatch"])
def test_descent_modes(descent, capsys):
    code, out, _ = run(capsys, "train", "--dataset", "iris", "--epochs", "2", "--hidden", "4",
                       "--descent", descent)  # fmt: skip
    assert code == 0 and "iris: test_accuracy" in out


def test_csv_dataset(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    y = (X[:, 0] > 0).astype(int)
    path = tmp_path / "data.csv"
    rows = ["f1,f2,f3,target"] + [f"{a},{b},{c},{t}" for (a, b, c), t in zip(X, y)]
    path.write_text("\n".join(rows) + "\n")
    code, out, _ = run(capsys, "train", "--dataset", str(path), "--label", "target", *FAST)
    assert code == 0 and "test_accuracy" in out


BAD = [
    (["--lr", "0"], "--lr"),
    (["--lr", "-1"], "--lr"),
    (["--epochs", "0"], "--epochs"),
    (["--batch-size", "0"], "--batch-size"),
    (["--log-every", "0"], "--log-every"),
    (["--test-size", "1.5"], "--test-size"),
    (["--descent", "sideways"], "--descent"),
    (["--activation", "swish2"], "--activation"),
    (["--init", "magic"], "--init"),
    (["--hidden", "10,x"], "--hidden"),
    (["--hidden", "10,-3"], "--hidden"),
    (["--dataset", "nope"], "dataset"),
    (["--dataset", "/no/such/file.csv"], "/no/such/file.csv"),
    (["--config", "/no/such/run.toml"], "--config"),
    (["--save", "/no/such/dir/m.safetensors"], "--save"),
    (["--metrics-out", "/no/such/dir/m.json"], "--metrics-out"),
    (["--optimizer", "lbfgs"], "--optimizer"),
    (["--optimizer", "adam", "--momentum", "0.9"], "--momentum"),
    (["--weight-decay", "-0.1"], "--weight-decay"),
    (["--schedule", "triangle"], "--schedule"),
    (["--warmup", "30"], "--warmup"),
    (["--l1", "-1"], "--l1"),
    (["--l2", "-1"], "--l2"),
    (["--dropout", "1.0"], "--dropout"),
    (["--batchnorm", "--layernorm"], "--batchnorm"),
    (["--clip-norm", "0"], "--clip-norm"),
    (["--clip-value", "-2"], "--clip-value"),
    (["--early-stopping", "0"], "--early-stopping"),
    (["--validation-split", "1"], "--validation-split"),
    (["--cv", "1"], "--cv"),
]


@pytest.mark.parametrize(("argv", "named"), BAD)
def test_bad_input_is_one_line_exit_2(argv, named, capsys):
    code, out, err = run(capsys, "train", *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("deltaprop: error:")
    assert named in lines[0]
    assert "Traceback" not in err


def test_unknown_config_key_and_bad_toml(tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text("learning_rate = 0.1\n")
    code, _, err = run(capsys, "train", "--config", str(cfg))
    assert code == 2 and "learning_rate" in err and "allowed keys" in err
    cfg.write_text("lr = [\n")
    code, _, err = run(capsys, "train", "--config", str(cfg))
    assert code == 2 and "not valid TOML" in err
    cfg.write_text('epochs = "ten"\n')
    code, _, err = run(capsys, "train", "--config", str(cfg))
    assert code == 2 and "epochs" in err


def test_nan_data_and_bad_labels_in_file(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,label\n1,2,0\n3,nan,1\n")
    code, _, err = run(capsys, "train", "--dataset", str(bad))
    assert code == 2 and "NaN" in err and "Traceback" not in err


def test_diverging_training_is_reported_with_epoch_and_step(tmp_path, capsys):
    model_path = tmp_path / "m.safetensors"
    code, _, err = run(capsys, "train", "--lr", "1e6", "--epochs", "2", "--save", str(model_path))
    assert code == 2
    assert "epoch" in err and "step" in err
    assert not model_path.exists()  # a failed run writes no file


@pytest.mark.slow
def test_help_lists_every_option():
    proc = subprocess.run([sys.executable, "-m", "deltaprop", "train", "--help"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0
    for flag in ["--dataset", "--hidden", "--activation", "--init", "--lr", "--epochs",
                 "--descent", "--batch-size", "--log-every", "--seed", "--test-size", "--save",
                 "--metrics-out", "--config"]:  # fmt: skip
        assert flag in proc.stdout
    assert "(default: 30)" in proc.stdout  # --epochs
    top = subprocess.run([sys.executable, "-m", "deltaprop", "--help"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert "train" in top.stdout and "predict" in top.stdout


def test_predict_errors(tmp_path, capsys):
    code, _, err = run(capsys, "predict", str(tmp_path / "missing.safetensors"),
                       "--dataset", "digits")  # fmt: skip
    assert code == 2 and "missing.safetensors" in err
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a model")
    code, _, err = run(capsys, "predict", str(junk), "--dataset", "digits")
    assert code == 2 and "Traceback" not in err


def test_toolkit_flags_end_to_end(tmp_path, capsys):
    path = tmp_path / "m.json"
    model_path = tmp_path / "bn.safetensors"
    code, out, _ = run(
        capsys, "train", "--optimizer", "adam", "--lr", "0.01", "--dropout", "0.2", "--batchnorm",
        "--schedule", "cosine", "--warmup", "2", "--clip-norm", "5", "--l2", "1e-4",
        "--epochs", "6", "--log-every", "1", "--hidden", "32", "--metrics-out", str(path),
        "--save", str(model_path),
    )  # fmt: skip
    assert code == 0
    lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 6 and all("grad_norm" in line and " lr " in line for line in lines)
    lrs = [float(line.split(" lr ")[1].split()[0]) for line in lines]
    assert lrs[0] < lrs[2] and lrs[-1] < lrs[2]  # warm-up, then cosine decay
    assert json.loads(path.read_text())["test_accuracy"] > 0.8
    model = dp.load(str(model_path))  # BatchNorm1d and Dropout layers round-trip
    assert any(type(m).__name__ == "BatchNorm1d" for m in model.modules())


def test_early_stopping_flag_stops_and_restores(capsys):
    code, out, _ = run(capsys, "train", "--early-stopping", "2", "--epochs", "200",
                       "--optimizer", "adam", "--lr", "0.01", "--hidden", "32",
                       "--log-every", "50")  # fmt: skip
    assert code == 0
    assert "EarlyStopping" in out and "restored" in out
    assert "(200 epochs" not in out


def test_cv_flag_reports_folds(tmp_path, capsys):
    path = tmp_path / "m.json"
    code, out, _ = run(capsys, "train", "--dataset", "iris", "--cv", "3", "--epochs", "3",
                       "--hidden", "8", "--metrics-out", str(path))  # fmt: skip
    assert code == 0 and "3-fold cross-validation" in out
    cv = json.loads(path.read_text())["cv"]
    assert cv["k"] == 3 and set(cv["mean"]) >= {"loss", "accuracy"}


def test_toolkit_keys_in_config(tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        'optimizer = "nesterov"\nlayernorm = true\nschedule = "step"\nepochs = 3\n'
        "hidden = [16]\nvalidation-split = 0.2\n"
    )
    code, out, _ = run(capsys, "train", "--config", str(cfg), "--no-layernorm", "--log-every", "1")
    assert code == 0
    assert "val_loss" in out  # validation_split came from the file
    cfg.write_text("batchnorm = 1\n")
    code, _, err = run(capsys, "train", "--config", str(cfg))
    assert code == 2 and "batchnorm" in err and "expected bool" in err


def test_checkpoint_and_resume_flags_continue_bit_for_bit(tmp_path, capsys):
    ckpt = tmp_path / "run.ckpt"
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    common = ["--hidden", "16", "--dropout", "0.1", "--optimizer", "adam"]
    assert run(capsys, "train", *common, "--epochs", "3", "--checkpoint", str(ckpt),
               "--resume", str(ckpt))[0] == 0  # fmt: skip
    code, out, _ = run(capsys, "train", *common, "--epochs", "6", "--checkpoint", str(ckpt),
                       "--resume", str(ckpt), "--metrics-out", str(a))  # fmt: skip
    assert code == 0 and "resumed from" in out
    assert run(capsys, "train", *common, "--epochs", "6", "--metrics-out", str(b))[0] == 0
    ra, rb = json.loads(a.read_text()), json.loads(b.read_text())
    assert ra["test_loss"] == rb["test_loss"] and ra["train_loss"] == rb["train_loss"]
    code, _, err = run(capsys, "train", "--hidden", "8", "--epochs", "6", "--resume", str(ckpt))
    assert code == 2 and "does not match" in err


@pytest.mark.slow
def test_adam_dropout_early_stopping_on_digits(tmp_path):
    # Issue 3's acceptance run, as a user types it (default seed 0). Over seeds 0-7 the same
    # command measured 0.967-0.986, mean 0.978; the bar sits well below that spread, so a
    # change of seed cannot break it while a broken run (~0.9 or less) still fails.
    metrics = tmp_path / "m.json"
    proc = subprocess.run(
        [sys.executable, "-m", "deltaprop", "train", "--optimizer", "adam", "--dropout", "0.2",
         "--early-stopping", "10", "--metrics-out", str(metrics)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(metrics.read_text())["test_accuracy"] >= 0.95
    assert "EarlyStopping" in proc.stdout


def test_names_in_flags_are_case_insensitive(tmp_path, capsys):
    path = tmp_path / "m.json"
    code, out, err = run(capsys, "train", "--dataset", "iris", "--hidden", "4", "--epochs", "2",
                         "--optimizer", "Adam", "--activation", "Leaky-ReLU", "--descent",
                         "MiniBatch", "--schedule", "Cosine_Restarts", "--metrics-out",
                         str(path))  # fmt: skip
    assert code == 0, err
    assert json.loads(path.read_text())["epochs"] == 2


@pytest.mark.parametrize(
    "argv", [["--epochs", "x"], ["--optimizer", "lbfgs"], ["--no-such-flag"], ["--lr"]]
)
def test_usage_errors_are_one_line_exit_2(argv, capsys):
    code, out, err = run(capsys, "train", *argv)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("deltaprop: error: ")


def test_remedy_flags():
    from deltaprop.cli.options import remedy_flags

    assert remedy_flags({"activation": "relu", "batchnorm": True, "lr": 0.1}) == (
        "--activation relu --batchnorm --lr 0.1"
    )
    assert remedy_flags({"layernorm": False, "early_stopping": 5, "hidden": "256,128"}) == (
        "--no-layernorm --early-stopping 5 --hidden 256,128"
    )
    assert remedy_flags({}) == ""


def test_nothing_imports_the_cli():
    import pathlib
    import re

    src = pathlib.Path(dp.__file__).parent
    pattern = re.compile(r"^\s*(from|import)\s+(deltaprop\.cli|\.+cli)\b", re.M)
    for path in src.rglob("*.py"):
        if "cli" in path.relative_to(src).parts or path.name == "__main__.py":
            continue
        assert not pattern.search(path.read_text()), path
