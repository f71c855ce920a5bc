"""Preprocessor (issue 8): label classes with their own values, one-hot text columns, missing
values refused or imputed, feature and target scaling, a JSON state; and the task guess."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deltaprop.data import Preprocessor, guess_task, load_dataset
from deltaprop.errors import ConfigError, DataError

X = np.array([[1.0, 2.0], [2.0, 0.0], [3.0, 1.0], [4.0, 5.0]])


@pytest.mark.parametrize(
    "labels, names",
    [
        (["1", "2", "3", "2"], ["1", "2", "3"]),
        (["100000", "200000", "300000", "100000"], ["100000", "200000", "300000"]),
        (["-1", "+1", "-1", "1"], ["-1", "1"]),
        ([-1, 1, 1, -1], ["-1", "1"]),
        (["cat", "dog", "ant", "cat"], ["ant", "cat", "dog"]),
    ],
)
def test_labels_become_classes_with_their_names(labels, names):
    prep = Preprocessor().fit(X, np.array(labels), ["a", "b"])
    assert prep.task == "classification" and prep.class_names == names
    assert prep.n_outputs == len(names)  # 1,2,3 -> 3 outputs, not 4; 100000 -> 3, not 300001
    y = prep.encode(np.array(labels))
    assert y.min() == 0 and y.max() == len(names) - 1
    assert [str(v) for v in prep.decode(y)] == [names[i] for i in y]


def test_encode_maps_through_the_training_classes_and_names_unseen_labels():
    prep = Preprocessor().fit(X, np.array(["setosa", "versicolor", "virginica", "setosa"]))
    assert prep.encode(np.array(["virginica", "virginica"])).tolist() == [2, 2]
    with pytest.raises(DataError, match=r"labels \['rose'\] were not among the training"):
        prep.encode(np.array(["virginica", "rose"]))
    num = Preprocessor().fit(X, np.array(["1", "2", "3", "1"]))
    assert num.encode(np.array(["3.0", "1"])).tolist() == [2, 0]  # numbers compared as numbers
    with pytest.raises(DataError, match=r"labels \['7'\]"):
        num.encode(np.array(["7"]))


def test_text_columns_are_one_hot_and_the_state_round_trips():
    raw = np.array([["1.5", "red"], ["2.5", "blue"], ["0.5", "red"], ["1.0", "green"]])
    prep = Preprocessor().fit(raw, np.array(["a", "b", "a", "b"]), ["size", "color"])
    assert prep.categories == {"color": ["blue", "green", "red"]}
    assert prep.input_names == ["size", "color=blue", "color=green", "color=red"]
    Z = prep.transform(raw)
    assert Z.shape == (4, 4) and Z.dtype == np.float32
    again = Preprocessor.from_state(json.loads(json.dumps(prep.state())))
    np.testing.assert_array_equal(again.transform(raw), Z)
    unseen = again.transform(np.array([["1.0", "purple"]]))  # unseen value -> all zeros
    np.testing.assert_allclose(unseen[0, 1:], Z[:, 1:].min(axis=0))


def test_a_number_column_with_a_stray_text_cell_is_refused_not_one_hot():
    # a typo ('x') must not turn every number of the column into a category
    raw = np.array([["1.5"], ["2.5"], ["x"], ["1.0"], ["3.0"]])
    with pytest.raises(DataError, match=r"column 'size': expected numbers.*first: 'x'"):
        Preprocessor().fit(raw, np.array(["a", "b", "a", "b", "a"]), ["size"])
    codes = np.array([["A1"], ["B2"], ["12"], ["A1"]])  # mostly text: a categorical column
    prep = Preprocessor().fit(codes, np.array(["a", "b", "a", "b"]), ["code"])
    assert prep.categories == {"code": ["12", "A1", "B2"]}


def test_missing_values_are_refused_by_name_or_imputed():
    raw = np.array([["1", "x"], ["", "y"], ["3", "NA"], ["5", "x"]])
    with pytest.raises(DataError, match=r"column 'a': .*1 missing.*with --impute mean or median"):
        Preprocessor().fit(raw, np.array([0, 1, 0, 1]), ["a", "b"])
    prep = Preprocessor(impute="median").fit(raw, np.array([0, 1, 0, 1]), ["a", "b"])
    assert prep.fill == {"a": 3.0, "b": "x"}  # SimpleImputer: median; most frequent for text
    mean = Preprocessor(impute="mean").fit(raw, np.array([0, 1, 0, 1]), ["a", "b"])
    assert mean.fill["a"] == pytest.approx(3.0)
    again = Preprocessor.from_state(json.loads(json.dumps(prep.state())))
    np.testing.assert_array_equal(again.transform(raw), prep.transform(raw))
    nums = np.array([[1.0, np.nan], [2.0, 4.0], [3.0, 6.0]])
    assert Preprocessor("regression", "mean").fit(nums, [1.0, 2.0, 3.5]).fill == {"x1": 5.0}


def test_regression_targets_are_standardized_and_mapped_back():
    y = np.array([151.0, 75.0, 141.0, 206.0])
    prep = Preprocessor("regression").fit(X, y)
    z = prep.encode(y)
    assert z.shape == (4,) and abs(float(z.mean())) < 1e-6 and float(z.std()) == pytest.approx(1)
    np.testing.assert_allclose(prep.decode(z.reshape(-1, 1))[:, 0], y, rtol=1e-6)
    again = Preprocessor.from_state(json.loads(json.dumps(prep.state())))
    np.testing.assert_allclose(again.decode(z.reshape(-1, 1))[:, 0], y, rtol=1e-6)


def test_old_model_metadata_gives_an_equivalent_preprocessor():
    scaling = {"mean": [1, 2], "scale": [2, 4]}
    info = {"task": "classification", "feature_names": ["a", "b"],
            "target_names": ["no", "yes"], "standardizer": scaling}  # fmt: skip
    prep = Preprocessor.from_metadata(info)
    np.testing.assert_allclose(prep.transform(np.array([[3.0, 6.0]])), [[1.0, 1.0]])
    assert prep.encode(np.array(["yes"])).tolist() == [1]
    assert prep.decode(np.array([0, 1])).tolist() == ["no", "yes"]


def test_guess_task_says_why():
    diabetes_like = np.array([f"{v}.0" for v in range(25, 346)])  # scikit-learn's diabetes
    assert guess_task(diabetes_like)[0] == "regression"
    assert "written as floats" in guess_task(diabetes_like)[1]
    assert guess_task(np.array(["1.5", "2.0"])) == (
        "regression",
        "the target has fractional values",
    )
    assert guess_task(np.array(["a", "b"]))[0] == "classification"
    assert guess_task(np.array(["1", "2", "3"]))[0] == "classification"
    with pytest.raises(ConfigError, match=r"--task: .*300 distinct integers.*--task regression"):
        guess_task(np.array([str(v) for v in range(300)] * 2), "--task")


def test_csv_numeric_labels_become_classes_in_load_dataset(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("a,y\n1,100000\n2,200000\n3,300000\n4,100000\n")
    ds = load_dataset(p)
    assert ds.n_classes == 3 and ds.target_names == ["100000", "200000", "300000"]
    p.write_text("a,y\n" + "".join(f"{i},{100 + i}.0\n" for i in range(40)))
    assert load_dataset(p).task == "regression"  # whole numbers written as floats, 40 values


def test_npz_numeric_labels_become_classes(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, X=np.zeros((4, 2)), y=np.array([-1, 1, 1, -1]))
    ds = load_dataset(p)
    assert ds.n_classes == 2 and ds.target_names == ["-1", "1"] and ds.y.tolist() == [0, 1, 1, 0]
