"""``deltaprop predict`` (issue 8): columns by name, labels through the training classes, a
header with class names, --proba, a row count when it stops printing, regression metrics, and
model files written before the Preprocessor."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris

from deltaprop.cli import main

FIXTURES = Path(__file__).parent.parent / "data" / "fixtures"
NAMES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def write_iris(path: Path, label=lambda name, i: name, rows=None, columns=None) -> Path:
    iris = load_iris()
    columns = columns or NAMES + ["species"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for i, (x, t) in enumerate(zip(iris.data, iris.target)):
            if rows is not None and iris.target_names[t] not in rows:
                continue
            cells = dict(zip(NAMES, x.tolist()))
            cells["species"] = label(str(iris.target_names[t]), int(t))
            cells["extra"] = "ignored"
            w.writerow([cells[c] for c in columns])
    return path


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def iris_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("iris")
    data = write_iris(folder / "iris.csv")
    model = folder / "iris.safetensors"
    argv = ["train", "--dataset", data, "--hidden", "16", "--optimizer", "adam", "--lr", "0.02",
            "--epochs", "40", "--quiet", "--save", model]  # fmt: skip
    assert main([str(a) for a in argv]) == 0
    return model, data


def accuracy(out: str) -> float:
    line = next(line for line in out.splitlines() if line.startswith("accuracy"))
    return float(line.split()[1])


def test_round_trip_to_the_label_strings_with_a_header(iris_model, tmp_path, capsys):
    model, data = iris_model
    out_path = tmp_path / "p.csv"
    code, out, _ = cli(capsys, "predict", model, "--dataset", data, "--out", out_path, "--proba")
    assert code == 0 and accuracy(out) > 0.9
    rows = list(csv.reader(open(out_path)))
    header = ["species", "proba_setosa", "proba_versicolor", "proba_virginica"]
    assert rows[0] == header and len(rows) == 151
    assert {r[0] for r in rows[1:]} == {"setosa", "versicolor", "virginica"}
    truth = [r[4] for r in csv.reader(open(data))][1:]
    assert np.mean([r[0] == t for r, t in zip(rows[1:], truth)]) == pytest.approx(
        accuracy(out), abs=1e-4
    )
    proba = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-5)


def test_a_file_of_one_class_is_scored_through_the_training_classes(iris_model, tmp_path, capsys):
    model, _ = iris_model
    only = write_iris(tmp_path / "virginica.csv", rows={"virginica"})
    code, out, _ = cli(capsys, "predict", model, "--dataset", only)
    assert code == 0 and accuracy(out) > 0.8  # was 0.0000: the file's labels re-encoded


def test_columns_are_taken_by_name(iris_model, tmp_path, capsys):
    model, data = iris_model
    _, base, _ = cli(capsys, "predict", model, "--dataset", data)
    shuffled = ["species", "petal_width", "extra", "sepal_width", "petal_length", "sepal_length"]
    moved = write_iris(tmp_path / "moved.csv", columns=shuffled)
    code, out, _ = cli(capsys, "predict", model, "--dataset", moved)
    assert code == 0 and accuracy(out) == accuracy(base)  # was 0.333 (columns by position)
    no_label = write_iris(tmp_path / "nolabel.csv", columns=NAMES)
    code, out, _ = cli(capsys, "predict", model, "--dataset", no_label)
    assert code == 0 and "accuracy" not in out and out.splitlines()[0] == "species"
    short = write_iris(tmp_path / "short.csv", columns=NAMES[:3] + ["species"])
    code, _, err = cli(capsys, "predict", model, "--dataset", short)
    assert code != 0 and "missing ['petal_width']" in err


def test_unseen_labels_are_an_error_naming_them(iris_model, tmp_path, capsys):
    model, _ = iris_model
    odd = write_iris(tmp_path / "odd.csv", label=lambda n, i: "rose" if i == 2 else n)
    code, _, err = cli(capsys, "predict", model, "--dataset", odd)
    assert code != 0 and "['rose']" in err and "training classes" in err


def test_printing_says_how_many_rows_it_left_out(iris_model, capsys):
    model, data = iris_model
    code, out, _ = cli(capsys, "predict", model, "--dataset", data)
    lines = out.splitlines()
    assert code == 0 and lines[0] == "species" and len(lines) == 1 + 20 + 2
    assert "130 more rows not printed" in lines[21]


def test_numeric_labels_keep_their_values(tmp_path, capsys):
    data = write_iris(tmp_path / "big.csv", label=lambda n, i: (i + 1) * 100000)
    model = tmp_path / "big.safetensors"
    code, out, _ = cli(capsys, "train", "--dataset", data, "--hidden", "8", "--epochs", "2",
                       "--save", model, "--quiet")  # fmt: skip
    assert code == 0 and "3 distinct whole-number labels" in out
    code, out, _ = cli(capsys, "predict", model, "--dataset", data)
    assert {line for line in out.splitlines()[1:21]} <= {"100000", "200000", "300000"}


def test_a_model_file_from_before_the_preprocessor_still_predicts(tmp_path, capsys):
    # Written by `deltaprop train --dataset iris_text.csv --hidden 16 --epochs 20 --save`
    # before issue 8: metadata holds "standardizer", "task", "feature_names", "target_names".
    data = write_iris(tmp_path / "iris_text.csv")
    model = FIXTURES / "legacy_iris_text_labels.safetensors"
    code, out, _ = cli(capsys, "predict", model, "--dataset", data)
    assert code == 0 and accuracy(out) == 0.8667  # as that version printed
    only = write_iris(tmp_path / "virginica.csv", rows={"virginica"})
    code, out, _ = cli(capsys, "predict", model, "--dataset", only)
    assert code == 0 and accuracy(out) > 0.5
    # The same with labels 0/1/2 (no class names were saved then): classes are the numbers.
    numeric = write_iris(tmp_path / "iris012.csv", label=lambda n, i: i)
    model = FIXTURES / "legacy_iris_numeric_labels.safetensors"
    code, out, _ = cli(capsys, "predict", model, "--dataset", numeric)
    assert code == 0 and accuracy(out) == 0.8667 and out.splitlines()[1] == "0"


def test_regression_prints_r2_mae_rmse(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 2))
    y = 300 + 50 * X[:, 0] - 20 * X[:, 1]
    data = tmp_path / "r.csv"
    with open(data, "w") as f:
        f.write("a,b,price\n" + "".join(f"{a:.4f},{b:.4f},{t:.2f}\n" for (a, b), t in zip(X, y)))
    model = tmp_path / "r.safetensors"
    code, out, _ = cli(capsys, "train", "--dataset", data, "--hidden", "16", "--epochs", "40",
                       "--lr", "0.05", "--save", model, "--quiet")  # fmt: skip
    assert code == 0 and "task: regression (the target has fractional values" in out
    assert "test_r2 " in out.splitlines()[-2] and "test_rmse" in out.splitlines()[-2]
    code, out, _ = cli(capsys, "predict", model, "--dataset", data)
    last = out.splitlines()[-1].split()
    assert code == 0 and last[0] == "r2" and float(last[1]) > 0.9 and "rmse" in last
    assert 150 < float(out.splitlines()[1]) < 450  # in the target's own units, not scaled
    code, _, err = cli(capsys, "predict", model, "--dataset", data, "--proba")
    assert code != 0 and "--proba" in err


def write_plants(path: Path) -> Path:
    """The README's "Your own data" file: ';'-separated, an id, a text column, 5 gaps."""
    rng = np.random.default_rng(0)
    lines = ["id;height;width;soil;species"]
    for i in range(120):
        k = i % 3
        soil = ["clay", "sand", "loam"][(i // 3) % 3]
        h = 10 + 5 * k + rng.normal(0, 1.5)
        w = "" if i % 25 == 7 else f"{2 + k + rng.normal(0, 0.5):.2f}"
        lines.append(f"{i};{h:.2f};{w};{soil};{['fern', 'moss', 'oak'][k]}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_your_own_data_example(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_plants(tmp_path / "plants.csv")
    code, _, err = cli(capsys, "train", "--dataset", "plants.csv")
    assert code == 2 and "the header holds ';': pass --delimiter ';'" in err
    code, _, err = cli(capsys, "train", "--dataset", "plants.csv", "--delimiter", ";")
    assert code == 2 and "column 'width'" in err and "the first in row 8, line 9" in err
    code, out, _ = cli(capsys, "train", "--dataset", "plants.csv", "--delimiter", ";", "--drop",
                       "id", "--impute", "median", "--hidden", "16", "--epochs", "20",
                       "--log-every", "10", "--save", "plants.safetensors")  # fmt: skip
    assert code == 0 and out.startswith("task: classification (the labels are text")
    lines = Path("plants.csv").read_text().splitlines()
    Path("new.csv").write_text("\n".join([lines[0]] + [x for x in lines if "oak" in x][:5]))
    code, out, _ = cli(capsys, "predict", "plants.safetensors", "--dataset", "new.csv", "--proba")
    rows = out.splitlines()
    assert code == 0 and rows[0] == "species,proba_fern,proba_moss,proba_oak"
    assert [r.split(",")[0] for r in rows[1:6]] == ["oak"] * 5
    assert rows[6] == "accuracy 1.0000 on 5 rows"


def test_builtin_iris_round_trips_to_its_class_names(tmp_path, capsys):
    model, out_path = tmp_path / "i.safetensors", tmp_path / "p.csv"
    code, _, _ = cli(capsys, "train", "--dataset", "iris", "--hidden", "8", "--epochs", "5",
                     "--quiet", "--save", model)  # fmt: skip
    code, out, _ = cli(capsys, "predict", model, "--dataset", "iris", "--out", out_path)
    rows = list(csv.reader(open(out_path)))
    assert code == 0 and rows[0] == ["prediction"] and len(rows) == 151
    assert {r[0] for r in rows[1:]} <= {"setosa", "versicolor", "virginica"}
    assert "accuracy" in out
