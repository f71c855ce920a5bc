"""The recipe's data keys (issue 8): task, delimiter, drop, impute; labels as classes; the task
guess and its line; regression targets scaled and scored as R^2, MAE, RMSE; the preprocessing
saved with the model."""

from __future__ import annotations

import json

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.cli import main
from deltaprop.data import Preprocessor
from deltaprop.errors import ConfigError, DataError
from deltaprop.recipe import Recipe, load_data, run

TINY = {"hidden": "8", "epochs": 3, "log_every": 3}


def write(path, header, rows, sep=","):
    path.write_text(sep.join(header) + "\n" + "".join(sep.join(map(str, r)) + "\n" for r in rows))
    return str(path)


def blobs(n=60, labels=("a", "b", "c"), seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        k = i % len(labels)
        rows.append([f"{k + rng.normal(0, 0.1):.3f}", f"{rng.normal():.3f}", labels[k]])
    return rows


def test_the_keys_are_checked_and_named_as_typed():
    r = Recipe(task="Regression", delimiter="tab", impute="median", drop="id")
    assert (r.task, r.delimiter, r.impute, r.drop) == ("regression", "\t", "median", "id")
    with pytest.raises(ConfigError, match="--task: unknown name 'cluster'"):
        Recipe(task="cluster", source="cli")
    with pytest.raises(ConfigError, match="delimiter: expected one character"):
        Recipe(delimiter=";;")
    with pytest.raises(ConfigError, match="--task: only applies to data files"):
        load_data(Recipe(dataset="iris", task="regression", source="cli"))


@pytest.mark.parametrize("labels", [(1, 2, 3), (100000, 200000, 300000), (-1, 1), ("x", "y")])
def test_labels_give_one_output_per_class(tmp_path, labels):
    path = write(tmp_path / "d.csv", ["u", "v", "y"], blobs(60, labels))
    data = load_data(Recipe(dataset=path, **TINY))
    assert data.n_out == len(labels)  # 1,2,3 gave 4 outputs; 100000.. a 300001-way softmax
    assert data.prep.class_names == [str(v) for v in labels]
    assert set(data.y_train.tolist()) == set(range(len(labels)))


def test_a_semicolon_file_names_the_delimiter(tmp_path):
    path = write(tmp_path / "semi.csv", ["u", "v", "y"], blobs(), sep=";")
    with pytest.raises(DataError, match=r"the header holds ';': pass --delimiter ';'"):
        load_data(Recipe(dataset=path, **TINY))
    assert load_data(Recipe(dataset=path, delimiter=";", **TINY)).n_in == 2


def test_drop_and_text_columns(tmp_path):
    rows = [[i, *r[:1], "red" if i % 2 else "blue", r[2]] for i, r in enumerate(blobs())]
    path = write(tmp_path / "d.csv", ["id", "u", "color", "y"], rows)
    data = load_data(Recipe(dataset=path, drop="id", **TINY))
    assert data.prep.feature_names == ["u", "color"]
    assert data.prep.input_names == ["u", "color=blue", "color=red"] and data.n_in == 3
    with pytest.raises(ConfigError, match=r"--drop: expected feature columns .* got 'y'"):
        load_data(Recipe(dataset=path, drop="y", source="cli", **TINY))


def test_missing_values_are_refused_or_imputed(tmp_path):
    rows = blobs()
    rows[7][1] = ""
    path = write(tmp_path / "d.csv", ["u", "v", "y"], rows)
    with pytest.raises(DataError, match=r"column 'v': .*row 8, line 9.*--impute mean or median"):
        load_data(Recipe(dataset=path, **TINY))
    data = load_data(Recipe(dataset=path, impute="mean", **TINY))
    assert "v" in data.prep.fill and np.isfinite(data.X_train).all()


def test_the_task_guess_is_printed_with_its_reason(tmp_path, capsys):
    rows = [[i, f"{150 + 3 * i}.0"] for i in range(60)]  # diabetes-like: "151.0"
    path = write(tmp_path / "r.csv", ["x", "target"], rows)
    result = run(Recipe(dataset=path, **TINY), log=print)
    out = capsys.readouterr().out
    assert "task: regression (60 distinct whole numbers written as floats" in out
    assert {"test_r2", "test_mae", "test_rmse"} <= set(result.metrics)
    run(Recipe(dataset=path, task="regression", **TINY), log=print)
    assert "task:" not in capsys.readouterr().out  # given, not guessed
    ints = write(tmp_path / "i.csv", ["x", "y"], [[i, i % 30] for i in range(60)])
    with pytest.raises(ConfigError, match=r"--task: .*30 distinct integers.*--task regression"):
        load_data(Recipe(dataset=ints, source="cli", **TINY))
    # 30 classes need 30 test rows at least (fewer is refused: see check_test_part)
    forced = Recipe(dataset=ints, task="classification", **{**TINY, "test_size": 0.5})
    assert load_data(forced).n_out == 30


def test_regression_targets_are_scaled_and_the_model_file_keeps_the_preprocessing(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(100, 2))
    rows = [[f"{a:.3f}", f"{b:.3f}", f"{1e5 + 3e4 * a:.1f}"] for a, b in X]
    path = write(tmp_path / "r.csv", ["a", "b", "price"], rows)
    model, metrics = tmp_path / "m.safetensors", tmp_path / "m.json"
    result = run(Recipe(dataset=path, hidden="16", epochs=30, lr=0.05, save=str(model),
                        metrics_out=str(metrics)), verbose=False)  # fmt: skip
    assert abs(float(result.data.y_train.mean())) < 0.2  # standardized: the defaults converge
    saved = json.loads(metrics.read_text())
    assert saved["test_r2"] > 0.9 and saved["test_mae"] < 2e4 and "test_rmse" in saved
    meta = dp.read_metadata(str(model))["deltaprop_cli"]
    prep = Preprocessor.from_state(meta["preprocessor"])
    assert prep.task == "regression" and prep.label == "price" and prep.y_scaler is not None
    assert meta["task"] == "regression" and "standardizer" in meta  # the old keys stay


def test_builtin_sets_keep_their_numbers(capsys):
    result = run(Recipe(dataset="iris", **TINY, seed=3), verbose=False)
    assert result.data.prep.class_names == ["setosa", "versicolor", "virginica"]
    assert "test_r2" not in result.metrics


@pytest.mark.slow
def test_diabetes_as_csv_matches_scikit_learns_mlp(tmp_path, capsys):
    """Acceptance (issue 8): `train` + `predict` on scikit-learn's diabetes written as CSV
    ("151.0" targets) give an R^2 within 0.05 of MLPRegressor with standardized targets on the
    same split."""
    import warnings

    from sklearn.datasets import load_diabetes
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import r2_score
    from sklearn.neural_network import MLPRegressor

    d = load_diabetes()
    rows = [[repr(float(v)) for v in x] + [repr(float(t))] for x, t in zip(d.data, d.target)]
    path = write(tmp_path / "diabetes.csv", [*d.feature_names, "target"], rows)
    recipe = Recipe(dataset=path, lr=0.01, save=str(tmp_path / "m.safetensors"))
    result = run(recipe, verbose=False)
    data = result.data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = MLPRegressor(hidden_layer_sizes=(256, 128), solver="sgd", random_state=0)
        sk.fit(data.X_train, data.y_train)
    truth = data.prep.decode(data.y_test.reshape(-1, 1))
    sk_r2 = r2_score(truth, data.prep.decode(sk.predict(data.X_test).reshape(-1, 1)))
    assert result.metrics["test_r2"] == pytest.approx(sk_r2, abs=0.05)
    # predict on the test rows gives the same R^2 as train reported
    test_rows = [rows[i] for i in _test_indices(recipe, len(rows))]
    test_csv = write(tmp_path / "test.csv", [*d.feature_names, "target"], test_rows)
    assert main(["predict", recipe.save, "--dataset", test_csv]) == 0
    last = capsys.readouterr().out.splitlines()[-1].split()
    assert last[0] == "r2" and float(last[1]) == pytest.approx(result.metrics["test_r2"], abs=1e-3)


def _test_indices(recipe: Recipe, n: int) -> np.ndarray:
    from deltaprop.data import train_test_split

    idx = np.arange(n)
    return train_test_split(idx, idx, test_size=recipe.test_size, stratify=False,
                            seed=recipe.seed)[1]  # fmt: skip


def test_one_class_is_a_data_error_not_a_loss_to_choose(tmp_path):
    path = write(tmp_path / "one.csv", ["a", "y"], [[i, "x"] for i in range(6)])
    with pytest.raises(DataError, match=r"label column 'y': expected at least 2 classes.*'x'"):
        load_data(Recipe(dataset=path, source="cli", **TINY))
    path = write(tmp_path / "one.csv", ["a", "y"], [[i, 3] for i in range(6)])
    with pytest.raises(DataError, match=r"got 1 \('3' in every row\); .* --task regression"):
        load_data(Recipe(dataset=path, source="cli", **TINY))
