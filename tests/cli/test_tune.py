"""`deltaprop tune` as a user runs it: a small CSV written by hand, a space file, the lines it
prints, best.toml fed back to `deltaprop train --config`, and bad input (one error line, exit
code 2, before any trial)."""

from __future__ import annotations

import csv
import re

import pytest

from deltaprop.cli import main

pytest.importorskip("optuna")

SPACE = '[space]\nlr = { low = 0.01, high = 0.3, log = true }\nhidden = ["4", "8"]\n'


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def blobs_csv(path):
    # two well-separated groups of points, written out as a user would
    rows = ["x1,x2,label"]
    for i in range(30):
        a, b = (i % 5) * 0.1, (i % 3) * 0.1
        rows.append(f"{a:.2f},{b:.2f},left")
        rows.append(f"{3 + a:.2f},{3 + b:.2f},right")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_tune_on_a_csv_then_train_its_best_toml(tmp_path, capsys):
    data = blobs_csv(tmp_path / "blobs.csv")
    space = tmp_path / "space.toml"
    space.write_text(SPACE)
    out = tmp_path / "study"
    code, text, err = run(capsys, "tune", "--dataset", str(data), "--epochs", "5",
                          "--strategy", "random", "--trials", "3", "--space", str(space),
                          "--out", str(out), "--no-retrain", "--optimizer", "adam")  # fmt: skip
    assert code == 0, err
    lines = text.splitlines()
    trial_lines = [line for line in lines if line.startswith("trial ")]
    assert len(trial_lines) == 3 and all("val_accuracy" in line for line in trial_lines)
    assert any(line.startswith("best: trial") for line in lines)
    with open(out / "trials.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 3 and {"lr", "hidden", "value"} <= set(table[0])
    best = max(float(r["value"]) for r in table)
    # the validation score of the best trial, printed again by train
    code, text, err = run(capsys, "train", "--config", str(out / "best.toml"), "--quiet")
    assert code == 0, err
    assert f"val_accuracy {best:.4f}" in text.splitlines()[-1]


def test_tune_help_lists_the_search_flags(capsys):
    with pytest.raises(SystemExit):
        main(["tune", "--help"])
    text = capsys.readouterr().out
    for flag in ("--strategy", "--workers", "--storage", "--pruner", "--space", "--trials"):
        assert flag in text
    # no such options (another option's help may still mention them)
    assert not re.search(r"^\s+--(save|metrics-out)\b", text, re.M)


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--workers", "0"], ["--workers"]),
        (["--trials", "0"], ["--trials"]),
        (["--strategy", "anneal"], ["--strategy", "invalid choice"]),
        (["--storage", "nowhere"], ["--storage: expected a database URL"]),
        (["--sampler", "gp", "--strategy", "random"], ["--sampler: gp is a Bayesian sampler"]),
        (["--strategy", "grid", "--space", "SPACE"], ["lr: a grid search needs listed values"]),
        (["--validation-split", "0"], ["--validation-split: a search scores trials"]),
        (["--space", "BAD"], ["--space", "unknown key 'hi'"]),
        (["--space", "UNKNOWN"], ["--space", "unknown parameter 'speed'"]),
        (["--space", "missing.toml"], ["--space: file not found"]),
    ],
)
def test_bad_input_is_one_line_before_any_trial(tmp_path, capsys, argv, words):
    (tmp_path / "SPACE").write_text(SPACE)
    (tmp_path / "BAD").write_text("[space]\nlr = { low = 0.01, hi = 0.1 }\n")
    (tmp_path / "UNKNOWN").write_text("[space]\nspeed = [1, 2]\n")
    argv = [str(tmp_path / a) if a in ("SPACE", "BAD", "UNKNOWN", "missing.toml") else a
            for a in argv]  # fmt: skip
    out = tmp_path / "study"
    code, text, err = run(capsys, "tune", "--dataset", "iris", "--out", str(out), *argv)
    assert code == 2
    assert err.startswith("deltaprop: error: ") and len(err.strip().splitlines()) == 1
    for word in words:
        assert word in err
    assert not (out / "trials.csv").exists()


def test_tune_on_a_regression_csv_reports_r2_in_the_targets_units(tmp_path, capsys):
    rows = ["a,b,target"] + [f"{i / 10:.1f},{(i % 7) / 7:.3f},{3 * i / 10 - (i % 7) / 7:.3f}"
                             for i in range(60)]  # fmt: skip
    data = tmp_path / "reg.csv"
    data.write_text("\n".join(rows) + "\n")
    space = tmp_path / "space.toml"
    space.write_text(SPACE)
    argv = ["tune", "--dataset", str(data), "--space", str(space), "--trials", "2"]
    code, out, err = run(capsys, *argv, "--epochs", "3", "--out", str(tmp_path / "s"))
    assert code == 0, err
    line = next(x for x in out.splitlines() if x.startswith("best retrained"))
    assert re.search(r"test_r2 -?\d\.\d{4}  test_mae \S+  test_rmse \S+  test_loss", line)
