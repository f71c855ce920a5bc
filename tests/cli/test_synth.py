"""``deltaprop synth`` and ``deltaprop train --synthetic``, as a user runs them: the NPZ it
writes is a data set `train --dataset` reads; --synthetic mixes rows into training only; bad
input is one line naming the option or the file, and nothing is written."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.cli import main
from deltaprop.recipe import load_data
from deltaprop.recipe.synthetic import training_rows

TINY = ["--epochs", "2", "--batch-size", "32", "--log-every", "1"]


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def wine_synth(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synth")
    out = folder / "wine.npz"
    code = main(["synth", "--dataset", "wine", "--n", "60", "--out", str(out), "--save",
                 str(folder / "gan.safetensors"), "--quiet", *TINY])  # fmt: skip
    assert code == 0
    return out


def test_synth_writes_a_data_set_that_train_reads(wine_synth, capsys):
    z = np.load(wine_synth)
    assert z["X"].shape == (60, 13) and z["y"].tolist() == [0, 1, 2] * 20
    assert z["target_names"].tolist() == ["class_0", "class_1", "class_2"]
    assert z["feature_names"][0] == "alcohol" and z["synthetic_source"] == "wine"
    gan = dp.gan.ConditionalGAN.load(wine_synth.parent / "gan.safetensors")
    assert gan.n_classes == 3
    code, out, err = cli(capsys, "train", "--dataset", wine_synth, "--epochs", "1", "--quiet")
    assert code == 0 and "60 rows" not in err and "test_accuracy" in out


def test_synth_prints_the_verdict_and_what_it_wrote(tmp_path, capsys):
    code, out, err = cli(capsys, "synth", "--dataset", "iris", "--n", "7", "--out",
                         tmp_path / "i.npz", *TINY)  # fmt: skip
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("epoch 1/2  d_loss ")
    assert any(line.startswith("GAN trained on 120 rows of iris: ") for line in lines)
    assert lines[-1] == (f"wrote 7 synthetic rows (setosa 3, versicolor 2, virginica 2) to "
                         f"{tmp_path / 'i.npz'}")  # fmt: skip


def test_train_mixes_synthetic_rows_into_training_only(wine_synth, capsys):
    code, out, err = cli(capsys, "train", "--dataset", "wine", "--synthetic", wine_synth,
                         "--epochs", "1", "--hidden", "8")  # fmt: skip
    assert code == 0, err
    assert ("synthetic: 60 rows from " + str(wine_synth) + " added to 127 real training rows "
            "(validation and test: real rows only)") in out  # fmt: skip
    recipe = dp.Recipe(dataset="wine", synthetic=str(wine_synth))
    data = load_data(recipe)
    kwargs = {"validation_split": 0.1, "epochs": 1}
    X, y, fit_kwargs, _ = training_rows(recipe, data, kwargs)
    Xv, yv = fit_kwargs["validation_data"]
    assert "validation_split" not in fit_kwargs and len(X) == 127 + 60 and len(Xv) == 15
    real = {row.tobytes() for row in data.X_train}
    assert all(row.tobytes() in real for row in Xv)  # validation: real rows only
    assert sum(row.tobytes() in real for row in X) == 127  # plus the 60 synthetic ones
    assert not {row.tobytes() for row in data.X_test} & {row.tobytes() for row in X[127:]}
    # the synthetic rows went through the run's scaling, fitted on the real rows
    np.testing.assert_allclose(X[127:], data.prep.transform(np.load(wine_synth)["X"]), rtol=1e-6)


def test_a_synthetic_file_that_does_not_match_is_named(wine_synth, tmp_path, capsys):
    code, out, err = cli(capsys, "train", "--dataset", "iris", "--synthetic", wine_synth,
                         "--metrics-out", tmp_path / "m.json")  # fmt: skip
    assert code == 2 and out == ""
    assert err == (f"deltaprop: error: --synthetic: {wine_synth} has rows of 13 features, the "
                   "data set iris has 4; expected rows made from it (deltaprop synth --dataset "
                   "iris)\n")  # fmt: skip
    renamed = tmp_path / "renamed.npz"
    z = dict(np.load(wine_synth))
    np.savez(renamed, **{**z, "target_names": np.array(["class_0", "class_1", "other"])})
    code, _, err = cli(capsys, "train", "--dataset", "wine", "--synthetic", renamed)
    assert code == 2 and f"--synthetic: {renamed} has labels 'other', which are not classes" in err
    features = tmp_path / "features.npz"
    names = z["feature_names"].copy()
    names[2] = "ash?"
    np.savez(features, **{**z, "feature_names": names})
    code, _, err = cli(capsys, "train", "--dataset", "wine", "--synthetic", features)
    assert code == 2 and "column 2 is 'ash?', expected 'ash'" in err
    code, _, err = cli(capsys, "train", "--dataset", "wine", "--synthetic", tmp_path / "no.npz")
    assert code == 2 and err.startswith("deltaprop: error: --synthetic: ") and "no such file" in err
    code, _, err = cli(capsys, "train", "--dataset", "wine", "--synthetic", wine_synth, "--cv", "3")
    assert code == 2 and "--synthetic: not with --cv" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["features.npz", "renamed.npz"]


def test_another_split_than_the_gans_gets_a_warning(wine_synth, capsys):
    code, _, err = cli(capsys, "train", "--dataset", "wine", "--synthetic", wine_synth,
                       "--seed", "3", "--epochs", "1")  # fmt: skip
    assert code == 0
    assert ("deltaprop: warning: --synthetic: " in err and "with seed 0 and test_size 0.2; this "
            "run splits wine with --seed 3" in err)  # fmt: skip


def test_bad_synth_options_are_one_line_and_write_nothing(tmp_path, capsys):
    out = tmp_path / "s.npz"
    cases = [
        (["--n", "0"], "deltaprop: error: --n: expected an integer >= 1, got 0"),
        (["--model", "cnn", "--dataset", "wine"], "deltaprop: error: --model: cnn needs image"),
        (["--epochs", "0"], "deltaprop: error: --epochs: expected an integer >= 1, got 0"),
        (["--dataset", "nope"], "deltaprop: error: --dataset: expected one of"),
        (["--out", tmp_path / "missing" / "s.npz"], "deltaprop: error: --out: "),
        (["--test-size", "1.5"], "deltaprop: error: --test-size: expected a fraction"),
    ]
    for extra, start in cases:
        argv = ["synth", "--dataset", "wine", "--out", out, *TINY, *extra]
        code, stdout, err = cli(capsys, *argv)
        assert code == 2 and err.startswith(start), (extra, err)
        assert err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_digits_images_round_trip_through_a_cnn(tmp_path, capsys):
    out = tmp_path / "d.npz"
    # 21 rows: 1293 + 21 training rows leave no minibatch of 1 for the cnn's batch norm
    code, _, err = cli(capsys, "synth", "--dataset", "digits", "--n", "21", "--out", out,
                       "--epochs", "1", "--batch-size", "256", "--quiet")  # fmt: skip
    assert code == 0, err
    assert np.load(out)["X"].shape == (21, 1, 8, 8)
    code, stdout, err = cli(capsys, "train", "--dataset", out, "--model", "cnn", "--channels",
                            "4", "--hidden", "8", "--epochs", "1", "--test-size", "0.5",
                            "--quiet")  # fmt: skip
    assert code == 0, err
    code, stdout, err = cli(capsys, "train", "--dataset", "digits", "--synthetic", out,
                            "--model", "cnn", "--channels", "4", "--hidden", "8", "--epochs",
                            "1", "--quiet")  # fmt: skip
    assert code == 0, err
