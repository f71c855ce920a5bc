"""What `deltaprop` says besides results: --version, one-line warnings that --quiet silences,
the xor refusal, messages that name the option as typed."""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import parallel
from deltaprop.cli import main, options
from deltaprop.errors import DeltapropError

FAST = ["--epochs", "3", "--hidden", "16", "--log-every", "1"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"deltaprop {dp.__version__}"


def one_row_class_csv(tmp_path):
    # one class with a single row: the split cannot stratify and warns
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    y = np.r_[np.zeros(15, int), np.ones(14, int), [2]]
    path = tmp_path / "d.csv"
    rows = "\n".join(f"{a:.4f},{b:.4f},{c}" for (a, b), c in zip(X, y))
    path.write_text("a,b,label\n" + rows + "\n")
    return str(path)


def test_warnings_are_one_line_and_quiet_silences_them(capsys, tmp_path):
    csv = one_row_class_csv(tmp_path)
    code, out, err = run(capsys, "train", "--dataset", csv, *FAST, "--validation-split", "0")
    assert code == 0
    assert "deltaprop: warning: train_test_split: cannot stratify" in err
    assert "UserWarning" not in err and ".py:" not in err  # no Python warning text
    assert len(err.strip().splitlines()) == 1
    code, out, err = run(capsys, "train", "--dataset", csv, *FAST, "--quiet")
    assert code == 0 and err == ""


def test_each_split_warns_once_and_a_rank_other_than_0_not_at_all(capsys, tmp_path, monkeypatch):
    csv = one_row_class_csv(tmp_path)
    code, _, err = run(capsys, "train", "--dataset", csv, *FAST)
    # the test split and fit's validation split; not again when the run scores the final
    # model on the validation rows (the same split, made again)
    assert code == 0 and err.count("cannot stratify") == 2
    recipe = dp.Recipe(dataset=csv, label="label", epochs=2, hidden=(4,), distributed=True)
    monkeypatch.setattr(options, "recipe_from_args", lambda args: recipe)

    def runner(r, verbose, log):
        dp.report.warn("a rank says this")
        return "result"

    args = argparse.Namespace(quiet=False)
    for root in (True, False):
        monkeypatch.setattr(parallel, "is_root", lambda root=root: root)
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            result = options.run_recipe(args, runner)
        assert [str(w.message) for w in seen] == (["a rank says this"] if root else [])
        assert result == ("result" if root else None)


def test_quiet_silences_early_stopping_lines(capsys):
    args = ["train", "--dataset", "iris", "--hidden", "8", "--epochs", "60",
            "--early-stopping", "1", "--lr", "0.5"]  # fmt: skip
    code, out, _ = run(capsys, *args)
    assert code == 0 and "EarlyStopping" in out
    code, out, _ = run(capsys, *args, "--quiet")
    assert code == 0 and "EarlyStopping" not in out
    assert "test_accuracy" in out.splitlines()[-1]


def test_xor_is_refused_with_a_reason_not_scored_zero(capsys):
    code, out, err = run(capsys, "train", "--dataset", "xor", *FAST)
    assert code == 2
    assert err.startswith("deltaprop: error: --test-size: 0.2 of 4 rows is 1 test row")
    assert "truth table" in err
    with pytest.raises(dp.ConfigError, match=r"^test_size: .*fewer than the 2 classes"):
        dp.run(dp.Recipe(dataset="xor", epochs=1), verbose=False)


@pytest.mark.parametrize(
    ("path", "said"),
    [("nosuch.ckpt", "nosuch.ckpt: no such file"), (".", "is a folder")],
)
def test_resume_errors_name_the_option(capsys, tmp_path, monkeypatch, path, said):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "train", "--dataset", "iris", *FAST, "--resume", path)
    assert code == 2
    assert err.startswith("deltaprop: error: --resume: ") and said in err
    with pytest.raises(DeltapropError, match=r"^resume: "):
        dp.run(dp.Recipe(dataset="iris", epochs=1, resume=path), verbose=False)


def test_resume_of_a_file_that_is_no_checkpoint_names_the_option(capsys, tmp_path):
    bad = tmp_path / "notes.ckpt"
    bad.write_text("hello")
    code, _, err = run(capsys, "train", "--dataset", "iris", *FAST, "--resume", str(bad))
    assert code == 2 and err.startswith(f"deltaprop: error: --resume: {bad}: ")


@pytest.mark.parametrize(
    ("argv", "flag"),
    [(["--max-depth", "0"], "--max-depth"), (["--max-depth", "1", "--width", "0"], "--width"),
     (["--max-depth", "1", "--activation", "relu"], "--activation")],
)  # fmt: skip
def test_memo_demo_errors_name_the_flag(capsys, argv, flag):
    code, _, err = run(capsys, "memo-demo", *argv)
    assert code == 2
    assert err.startswith(f"deltaprop: error: {flag}: ")


def test_train_starts_with_a_header_line_even_when_quiet(capsys):
    code, out, _ = run(capsys, "train", "--dataset", "iris", *FAST, "--quiet")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == (
        "iris: 108 train + 12 validation / 30 test rows, 4 features, 3 classes; MLP 4-16-3 relu"
    )
    assert len(lines) == 2 and lines[1].startswith("iris: test_accuracy")
    code, out, _ = run(capsys, "train", "--dataset", "iris", *FAST, "--validation-split", "0",
                       "--hidden", "8,4", "--dropout", "0.5")  # fmt: skip
    assert out.splitlines()[0] == (
        "iris: 120 train / 30 test rows, 4 features, 3 classes; MLP 4-8-4-3 relu, dropout 0.5"
    )


def test_header_of_a_regression_run(capsys, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    path = tmp_path / "r.csv"
    rows = "\n".join(",".join(f"{v:.5f}" for v in (*x, x.sum() + 0.123)) for x in X)
    path.write_text("a,b,c,t\n" + rows + "\n")
    code, out, _ = run(capsys, "train", "--dataset", str(path), *FAST, "--quiet")
    assert code == 0
    assert out.splitlines()[0].startswith("task: regression (")  # the guess, then the header
    assert (
        out.splitlines()[1]
        == f"{path}: 36 train + 4 validation / 10 test rows, 3 features, regression; "
        "MLP 3-16-1 relu"
    )


def test_many_class_target_is_refused_with_a_hint(capsys, tmp_path):
    # a quantity stored as whole numbers (0.0, 3.0, ...): 100 distinct values in 100 rows
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 2))
    path = tmp_path / "q.csv"
    rows = "\n".join(f"{a:.4f},{b:.4f},{float(i * 3)}" for i, (a, b) in enumerate(X))
    path.write_text("a,b,t\n" + rows + "\n")
    code, out, _ = run(capsys, "train", "--dataset", str(path), *FAST)
    assert code == 0 and out.startswith("task: regression (")  # the guess reads it right
    # forced to classification: 100 classes, 20 test rows, refused with the hint
    code, _, err = run(capsys, "train", "--dataset", str(path), *FAST, "--task", "classification")
    assert code == 2 and "is the target a quantity" in err


def test_metrics_out_holds_the_test_report(capsys, tmp_path):
    import json

    path = tmp_path / "m.json"
    code, _, _ = run(capsys, "train", "--dataset", "iris", *FAST, "--metrics-out", str(path))
    assert code == 0
    report = json.loads(path.read_text())["test_report"]
    assert report["classes"] == ["setosa", "versicolor", "virginica"]
    assert np.sum(report["confusion_matrix"]) == 30
    assert set(report["per_class"]["setosa"]) == {"precision", "recall", "f1", "support"}
    assert 0.0 <= report["roc_auc"] <= 1.0


@pytest.mark.parametrize("env_rank, where", [(None, ""), ("0", ""), ("3", "rank 3: ")])
def test_an_error_names_the_rank_under_an_mpi_launcher(capsys, monkeypatch, env_rank, where):
    # mpiexec shows every rank's stderr: rank 3's line must not read as rank 0's twice
    for key in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK"):
        monkeypatch.delenv(key, raising=False)
    if env_rank is not None:
        monkeypatch.setenv("PMI_RANK", env_rank)
    assert parallel.rank() == int(env_rank or 0)
    code, out, err = run(capsys, "train", "--dataset", "xor", *FAST)
    assert code == 2 and out == ""
    assert err.startswith(f"deltaprop: {where}error: --test-size: ") and err.count("\n") == 1


@pytest.mark.parametrize("size, rank, warned", [(None, None, False), ("2", "0", True),
                                                ("2", "1", False), ("1", "0", False)])  # fmt: skip
def test_ranks_launched_without_distributed_are_told(capsys, monkeypatch, size, rank, warned):
    # mpiexec -n 2 deltaprop train (no --distributed): two whole runs side by side; rank 0 says
    for key in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_RANK",
                "PMIX_RANK"):  # fmt: skip
        monkeypatch.delenv(key, raising=False)
    if size is not None:
        monkeypatch.setenv("PMI_SIZE", size)
        monkeypatch.setenv("PMI_RANK", rank)
    assert parallel.launched_size() == int(size or 1)
    code, out, err = run(capsys, "train", "--dataset", "iris", *FAST)
    assert code == 0 and "test_accuracy" in out
    said = "2 processes were launched together (mpiexec) but --distributed is not set"
    assert (said in err) is warned, err
