"""Values a loader would silently change are refused (issue 9, item 6): numbers beyond
float32's range (1e39, 1e300, -1e39) are finite in float64 but become inf in X or in a
regression y, and 'inf' cells are inf; each is a DataError naming the row and the column. A
label like 1e9 taken as a class index would make 1e9 + 1 classes: no allocation follows a
label's value."""

from __future__ import annotations

import struct
import warnings

import numpy as np
import pytest

from deltaprop.cli import main
from deltaprop.data import Preprocessor, load_dataset
from deltaprop.data.dataset import build_dataset
from deltaprop.errors import DataError
from deltaprop.recipe import Recipe, load_data

RANGE = r"expected a finite number within float32's range \(\+-3.4e38\)"


def csv_file(tmp_path, cell: str, label_cell: str | None = None, where: int = 5) -> str:
    """A 40-row CSV (columns a, b, label; labels 0/1) with ``cell`` in column b of data row
    ``where + 1`` (line ``where + 2``) and, if given, ``label_cell`` as that row's label."""
    rng = np.random.default_rng(0)
    rows = [[f"{v:.3f}" for v in rng.normal(size=2)] + [str(i % 2)] for i in range(40)]
    rows[where][1] = cell
    if label_cell is not None:
        rows[where][2] = label_cell
    path = tmp_path / "d.csv"
    path.write_text("a,b,label\n" + "".join(",".join(r) + "\n" for r in rows))
    return str(path)


@pytest.mark.parametrize("cell", ["1e39", "1e300", "-1e39", "inf", "-Infinity"])
def test_csv_features_beyond_float32_name_the_row_and_column(tmp_path, cell):
    path = csv_file(tmp_path, cell)
    line = rf"d.csv: row 6 \(line 7\), column 'b': {RANGE}, got '{cell}'"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not an overflow RuntimeWarning and an inf in X
        with pytest.raises(DataError, match=line):
            load_dataset(path)  # the Python API's reader
        with pytest.raises(DataError, match=line):
            load_data(Recipe(dataset=path))  # the CLI's, before the split: the file's row


def test_regression_targets_beyond_float32(tmp_path):
    rng = np.random.default_rng(0)
    rows = [f"{rng.normal():.3f},{rng.normal():.3f}\n" for _ in range(30)]
    rows[3] = "0.5,1e39\n"
    path = tmp_path / "r.csv"
    path.write_text("a,target\n" + "".join(rows))
    line = rf"r.csv: row 4 \(line 5\), column 'target': {RANGE}, got '1e39'"
    with pytest.raises(DataError, match=line):
        load_dataset(path, task="regression")
    with pytest.raises(DataError, match=line):
        load_data(Recipe(dataset=str(path)))  # guessed regression (fractions)
    with pytest.raises(DataError, match=line):
        load_data(Recipe(dataset=str(path), task="regression"))


def test_npz_values_beyond_float32(tmp_path):
    p = tmp_path / "v.npz"
    X = np.zeros((4, 2))
    X[2, 1] = 1e39
    np.savez(p, X=X, y=np.array([0, 1, 0, 1]), feature_names=np.array(["u", "v"]))
    with pytest.raises(DataError, match=r"v.npz: X: expected values within float32's range "
                       r"\(\+-3.4e38\), got 1e\+39 at index \(2, 1\) \(column 'v'\)"):  # fmt: skip
        load_dataset(p)
    np.savez(p, X=np.zeros((4, 2)), y=np.array([0.5, 1.5, -1e300, 2.5]))
    with pytest.raises(DataError, match=r"v.npz: y: expected values within float32's range"):
        load_dataset(p, task="regression")


def test_the_predict_path_names_the_row_and_column():
    prep = Preprocessor("classification").fit(
        np.array([["1.0", "2"], ["3", "4"]]), ["a", "b"], ["p", "q"]
    )
    with pytest.raises(DataError, match=rf"column 'q': row 2: {RANGE}, got '1e39'"):
        prep.transform(np.array([["1", "2"], ["3", "1e39"]]))
    with pytest.raises(DataError, match=rf"column 'p': row 1: {RANGE}, got 'inf'"):
        prep.transform(np.array([["inf", "2"]]))
    reg = Preprocessor("regression").fit(np.zeros((3, 1)), [1.0, 2.0, 3.5], ["x"], label="t")
    with pytest.raises(DataError, match=rf"label 't': row 2: {RANGE}, got '-1e39'"):
        reg.encode(np.array(["1", "-1e39"]))


def test_the_cli_refuses_with_the_row_and_column(tmp_path, capsys):
    assert main(["train", "--dataset", csv_file(tmp_path, "1e39"), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "--dataset: " in err and "row 6 (line 7), column 'b'" in err and "'1e39'" in err


def test_a_huge_class_index_is_an_error_not_a_billion_classes(tmp_path):
    # IDX labels are class indices (MNIST's digits): int32 labels can say 10**9
    images = tmp_path / "i-idx3-ubyte"
    images.write_bytes(bytes([0, 0, 8, 3]) + struct.pack(">3I", 3, 2, 2) + bytes(12))
    labels = tmp_path / "l-idx1-ubyte"
    labels.write_bytes(bytes([0, 0, 0x0C, 1]) + struct.pack(">I3i", 3, 0, 1, 10**9))
    with pytest.raises(DataError, match=r"label 1000000000 at index 2 makes 1000000001 classes"):
        load_dataset(images, label=str(labels))
    with pytest.raises(DataError, match=r"give the task regression if y is a quantity"):
        build_dataset(np.zeros((2, 1)), np.array([0, 10**9]), "classification", ["x"], None, "a")
    # sparse digits stay class indices, as before: 7 -> 8 classes for 3 rows
    assert build_dataset(np.zeros((3, 1)), [7, 0, 3], None, ["x"], None, "b").n_classes == 8


def test_a_numeric_class_label_beyond_float32_is_refused_not_made_the_class_inf(tmp_path):
    # fuzz csv-cli seed 180: a label -1e309 ended in OverflowError naming no file
    from deltaprop.data.columns import label_name
    from deltaprop.recipe import Recipe
    from deltaprop.recipe.build import load_data

    path = tmp_path / "lab.csv"
    path.write_text("a,b,y\n1,2,0\n3,4,-1e309\n5,6,1\n1,2,0\n3,4,1\n5,6,1\n")
    with pytest.raises(DataError, match="row 2 .*'y'.*-1e309"):
        load_data(Recipe(dataset=str(path), task="classification"))
    assert label_name(float("-inf")) == "-inf" and label_name(3.0) == "3"


def test_a_value_too_far_from_the_training_mean_is_refused_not_standardized_to_inf():
    # fuzz csv-cli seed 600: float32's largest value standardized to inf in X_test
    from deltaprop.data import Standardizer

    train = np.array([[0.0], [1.0], [2.0]], dtype=np.float32)
    scaler = Standardizer().fit(train)
    with pytest.raises(DataError, match="row 2, column 0: .* too far from the training mean"):
        scaler.transform(np.array([[1.0], [3.4028235e38]], dtype=np.float32))
    big = np.array([[3.4028235e38], [-3.4028235e38], [0.0]], dtype=np.float32)
    assert np.isfinite(Standardizer().fit_transform(big)).all()  # float64 statistics


def test_npz_text_that_is_not_unicode_is_a_data_error(tmp_path):
    # fuzz npz seed 1336: a code point past U+10FFFF made NumPy raise SystemError
    import zipfile

    from deltaprop.data import load_dataset

    path = tmp_path / "t.npz"
    np.savez(path, X=np.zeros((4, 2)), y=np.array([0, 1, 0, 1]), target_names=np.array(["a", "b"]))
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    raw = members["target_names.npy"]
    members["target_names.npy"] = raw[:-4] + (0x110000).to_bytes(4, "little")
    with zipfile.ZipFile(path, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)
    with pytest.raises(DataError, match="target_names.*not valid Unicode"):
        load_dataset(str(path))
