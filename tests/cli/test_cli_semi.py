"""``deltaprop train --labels-per-class K --semi self-training|mean-teacher``: the flags, the
header line that shows them, and one-line errors naming the flag, with nothing written."""

from __future__ import annotations

import json
import re

from deltaprop.cli import main

FAST = ["--dataset", "iris", "--hidden", "8", "--epochs", "2", "--log-every", "2",
        "--validation-split", "0"]  # fmt: skip


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_self_training_from_the_command_line(capsys, tmp_path):
    metrics = tmp_path / "m.json"
    code, out, err = run(capsys, "train", *FAST, "--labels-per-class", "5", "--semi",
                         "self-training", "--semi-rounds", "2", "--semi-threshold", "0.6",
                         "--metrics-out", str(metrics))  # fmt: skip
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == (
        "iris: 15 labeled + 105 unlabeled train (5 labeled per class) / 30 test rows, 4 "
        "features, 3 classes; MLP 4-8-3 relu, semi self-training"
    )
    assert re.search(r"self-training round 2/2: 15 labeled rows \+ \d+ of 105 unlabeled rows "
                     r"pseudo-labeled \(confidence >= 0.6\)", out)  # fmt: skip
    assert json.loads(metrics.read_text())["epochs"] == 6
    assert lines[-1].startswith("iris: test_accuracy ")


def test_mean_teacher_from_the_command_line(capsys):
    code, out, err = run(capsys, "train", *FAST, "--labels-per-class", "3", "--semi",
                         "mean-teacher", "--semi-weight", "2", "--semi-ramp-up", "1",
                         "--semi-ema-decay", "0.95", "--semi-augment", "noise")  # fmt: skip
    assert code == 0, err
    assert out.splitlines()[0].endswith("MLP 4-8-3 relu, semi mean-teacher")
    assert "9 labeled + 111 unlabeled train (3 labeled per class)" in out


def test_help_lists_the_flags(capsys):
    try:
        main(["train", "--help"])
    except SystemExit:
        pass
    out = capsys.readouterr().out
    flags = ("--labels-per-class", "--semi ", "--semi-threshold", "--semi-rounds",
             "--semi-weight", "--semi-ramp-up", "--semi-ema-decay", "--semi-augment")  # fmt: skip
    for flag in flags:
        assert flag in out


def test_errors_are_one_line_naming_the_flag_and_nothing_is_written(capsys, tmp_path):
    save = tmp_path / "m.safetensors"
    cases = [
        (
            ["--labels-per-class", "41"],
            "--labels-per-class: expected at most 40, the rows of "
            "the smallest class ('setosa' has 40 in the training part), got 41",
        ),
        (
            ["--semi", "mean-teacher"],
            "--semi mean-teacher: trains on unlabeled rows; give --labels-per-class K",
        ),
        (
            ["--labels-per-class", "2", "--semi", "self-training", "--semi-weight", "2"],
            "--semi-weight: an option of --semi mean-teacher, got --semi self-training",
        ),
        (
            ["--labels-per-class", "2", "--semi", "mean-teacher", "--semi-augment", "mixup"],
            "--semi-augment: mixup needs labels",
        ),
        (
            ["--labels-per-class", "2", "--semi", "self-training", "--checkpoint", "c.ckpt"],
            "--checkpoint: not with --semi self-training",
        ),
        (["--labels-per-class", "0"], "--labels-per-class: expected an integer >= 1, got 0"),
        (
            ["--labels-per-class", "2", "--semi", "mean-teacher", "--compile"],
            "--compile: not with --semi mean-teacher (its consistency loss would be left out",
        ),
        (
            ["--labels-per-class", "2", "--semi", "mean-teacher", "--distributed"],
            "--distributed: not with --semi mean-teacher",
        ),
    ]
    for extra, message in cases:
        code, out, err = run(capsys, "train", *FAST, "--save", str(save), *extra)
        assert code == 2
        assert err.startswith(f"deltaprop: error: {message}"), err
        assert len(err.strip().splitlines()) == 1
        assert not save.exists()
