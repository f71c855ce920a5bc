"""``deltaprop train --init-from --freeze --head-lr --body-lr`` and ``deltaprop distill``, as a
user runs them: the header says what was loaded and frozen, bad options are one line naming
the option, and nothing is written."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.cli import main

FAST = ["--dataset", "iris", "--epochs", "2", "--hidden", "8", "--log-every", "1"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A model trained on iris with --hidden 8 (the source of the transfer tests)."""
    path = tmp_path_factory.mktemp("src") / "src.safetensors"
    assert main(["train", *FAST, "--save", str(path), "--quiet"]) == 0
    return path


def test_train_from_a_source_with_frozen_layers_and_two_learning_rates(capsys, tmp_path, source):
    out_model = tmp_path / "fine.safetensors"
    argv = ["train", *FAST, "--init-from", source, "--freeze", "0-1", "--head-lr", "0.05",
            "--body-lr", "0.001", "--save", out_model]  # fmt: skip
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    header = out.splitlines()[0]
    assert f"init from {source}" in header and "freeze 0-1 (40 weights)" in header
    assert "head lr 0.05, body lr 0.001" in header
    src, fine = dp.load(source), dp.load(out_model)
    # layer 0 was frozen: the source's weights, bit for bit; the head trained on
    np.testing.assert_array_equal(fine[0].weight.numpy(), src[0].weight.numpy())
    assert not np.array_equal(fine[2].weight.numpy(), src[2].weight.numpy())


def test_a_source_with_other_classes_gets_a_new_head(capsys, tmp_path):
    wine = tmp_path / "wine.safetensors"
    code, _, err = run(capsys, "train", "--dataset", "wine", "--epochs", "1", "--hidden", "8",
                       "--quiet", "--save", wine)  # fmt: skip
    assert code == 0, err
    # wine has 13 features: a CSV of 13 features and 2 classes takes its body
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 13))
    rows = [",".join(f"{v:.4f}" for v in x) + f",{int(x[0] > 0)}" for x in X]
    csv = tmp_path / "two.csv"
    csv.write_text(",".join(f"f{i}" for i in range(13)) + ",label\n" + "\n".join(rows) + "\n")
    code, out, err = run(capsys, "train", "--dataset", csv, "--epochs", "1", "--hidden", "8",
                         "--init-from", wine)  # fmt: skip
    assert code == 0, err
    header = [line for line in out.splitlines() if line.startswith(f"{csv}:")][0]
    assert f"init from {wine}, new output layer 3 -> 2 outputs" in header


@pytest.mark.parametrize(
    "extra, match",
    [(["--freeze", "0-4"], "--freeze: the model has no layer or parameter named '3'"),
     (["--freeze", "0-2"], "--freeze: 0-2 freezes every layer"),
     (["--freeze", "1-0"], "--freeze: the range 1-0 runs backwards"),
     (["--hidden", "4"], "--init-from: .*'0.bias' has shape \\(8,\\).*--hidden 8"),
     (["--head-lr", "0"], "--head-lr: expected a finite number > 0"),
     (["--init-from", "nosuch.safetensors"], "--init-from: nosuch.safetensors: no such file"),
     (["--freeze", "0 1"], "--freeze: expected layer indices \\(0-1, 0,2\\)")],
)  # fmt: skip
def test_train_bad_transfer_options_write_nothing(capsys, tmp_path, source, extra, match):
    saved, metrics = tmp_path / "m.safetensors", tmp_path / "m.json"
    argv = ["train", *FAST, "--init-from", source, *extra, "--save", saved, "--metrics-out",
            metrics]  # fmt: skip
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""  # the error comes before the run's header
    assert err.startswith("deltaprop: error: ") and len(err.splitlines()) == 1
    assert re.search(match, err), err
    assert not saved.exists() and not metrics.exists()


def test_distill_a_small_student(capsys, tmp_path, source):
    student, metrics = tmp_path / "small.safetensors", tmp_path / "m.json"
    code, out, err = run(capsys, "distill", *FAST[:-2], "--hidden", "3", "--teacher", source,
                         "--temperature", "3", "--alpha", "0.7", "--save", student,
                         "--metrics-out", metrics)  # fmt: skip
    assert code == 0, err
    assert f"teacher {source} " in out.splitlines()[0] and "T 3, alpha 0.7" in out
    assert "student test_accuracy" in out.splitlines()[-2]
    model = dp.load(student)
    assert model[0].out_features == 3
    assert json.loads(metrics.read_text())["test_accuracy"] > 0


@pytest.mark.parametrize(
    "extra, match",
    [(["--dataset", "wine"], "--teacher: .* does not take this data's rows: X: expected 4"),
     (["--temperature", "0"], "--temperature: expected a finite number > 0"),
     (["--alpha", "1.5"], "--alpha: expected a number in \\[0, 1\\]"),
     (["--class-weight", "balanced"], "--class-weight: not used when distilling")],
)  # fmt: skip
def test_distill_bad_options_write_nothing(capsys, tmp_path, source, extra, match):
    saved = tmp_path / "s.safetensors"
    code, out, err = run(capsys, "distill", "--epochs", "1", "--teacher", source, *extra,
                         "--save", saved)  # fmt: skip
    assert code == 2 and out == ""
    assert re.search(match, err), err
    assert not saved.exists()


def test_distill_needs_a_fitting_teacher_file(capsys, tmp_path, source):
    code, _, err = run(capsys, "distill", "--epochs", "1")
    assert code == 2 and "--teacher: a distillation run needs" in err
    code, _, err = run(capsys, "distill", "--teacher", tmp_path / "none.safetensors")
    assert code == 2 and "--teacher: " in err and "no such file" in err
    code, _, err = run(capsys, "train", "--teacher", source)  # a distill flag only
    assert code == 2 and "unrecognized arguments: --teacher" in err
    code, _, err = run(capsys, "distill", "--teacher", source, "--save", source)
    assert code == 2 and "is the --teacher file" in err


REFUSED_BY_DISTILL = [
    (["--compile"], "--compile: a distillation run trains on the distillation loss, which the "
     "compiled step cannot"),
    (["--distributed", "--augment", "noise"], "--augment: not with --distributed when distilling"),
    (["--labels-per-class", "5", "--semi", "mean-teacher", "--augment", "noise"],
     "--augment: not with --semi mean-teacher when distilling"),
]  # fmt: skip


@pytest.mark.parametrize("extra, match", REFUSED_BY_DISTILL)
def test_distill_refuses_what_it_cannot_honour_by_flag(capsys, tmp_path, source, extra, match):
    saved = tmp_path / "s.safetensors"
    code, out, err = run(capsys, "distill", *FAST, "--teacher", source, *extra, "--save", saved)
    assert code == 2 and out == "", err
    assert err.startswith(f"deltaprop: error: {match}") and len(err.splitlines()) == 1
    assert not saved.exists()


def test_distill_distributed_on_one_rank_gives_the_students_weights(source):
    pytest.importorskip("mpi4py")
    from deltaprop.distill import distill_run

    base = dp.Recipe(dataset="iris", epochs=2, hidden="3", teacher=str(source))
    results = [distill_run(base.replace(distributed=d), verbose=False) for d in (False, True)]
    assert [r.trainer._dist is not None for r in results] == [False, True]
    a, b = (r.model.state_dict() for r in results)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_every_trainer_a_run_builds_takes_the_recipes_trainer_keys():
    from deltaprop.recipe.build import trainer_options

    recipe = dp.Recipe(compile=True, clip_norm=1.0, l2=0.1)  # compile: one CPU process
    options = trainer_options(recipe, dp.nn.mlp(4, [3], 2), log=None)
    assert options["compile"] is True and options["clip_norm"] == 1.0 and options["l2"] == 0.1
    recipe = dp.Recipe(distributed=True, device="cuda")
    options = trainer_options(recipe, dp.nn.mlp(4, [3], 2), log=None)
    assert options["distributed"] is True and options["device"] == "cuda"
    assert trainer_options(dp.Recipe(), dp.nn.mlp(4, [3], 2), log=None)["device"] is None
