"""labeled_per_class: K labeled rows per class chosen by the seed, the rest unlabeled."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.data.scarce import labeled_per_class
from deltaprop.errors import ConfigError, DataError

Y = np.repeat(np.arange(4), [6, 9, 7, 5])  # the smallest class, 3, has 5 rows


def test_k_rows_of_every_class_and_the_rest_unlabeled():
    labeled, unlabeled = labeled_per_class(Y, 3, seed=0)
    assert np.bincount(Y[labeled]).tolist() == [3, 3, 3, 3]
    assert len(unlabeled) == len(Y) - 12
    assert sorted(np.concatenate([labeled, unlabeled]).tolist()) == list(range(len(Y)))
    assert (np.diff(labeled) > 0).all() and (np.diff(unlabeled) > 0).all()


def test_the_seed_chooses_and_repeats():
    a, _ = labeled_per_class(Y, 2, seed=0)
    b, _ = labeled_per_class(Y, 2, seed=0)
    others = {tuple(labeled_per_class(Y, 2, seed=s)[0]) for s in range(1, 6)}
    assert a.tolist() == b.tolist()
    assert len(others | {tuple(a)}) > 1
    dp.seed(3)
    c, _ = labeled_per_class(Y, 2)
    dp.seed(3)
    assert labeled_per_class(Y, 2)[0].tolist() == c.tolist()


def test_every_row_of_the_smallest_class_may_be_labeled():
    labeled, _ = labeled_per_class(Y, 5, seed=1)
    assert set(np.flatnonzero(Y == 3)) <= set(labeled.tolist())


def test_float_labels_holding_whole_numbers_work():
    labeled, _ = labeled_per_class(Y.astype(np.float32), 1, seed=0)
    assert np.bincount(Y[labeled]).tolist() == [1, 1, 1, 1]


def test_k_larger_than_the_smallest_class_names_option_class_and_rows():
    with pytest.raises(ConfigError) as err:
        labeled_per_class(Y, 6, seed=0, name="--labels-per-class")
    assert str(err.value) == (
        "--labels-per-class: expected at most 5, the rows of the smallest class (3 has 5 in "
        "the training part), got 6"
    )
    with pytest.raises(ConfigError, match="'virginica' has 5"):
        labeled_per_class(Y, 6, seed=0, class_names=["a", "b", "c", "virginica"])


@pytest.mark.parametrize("k", [0, -1, 2.5, True, "3"])
def test_k_must_be_a_positive_integer(k):
    with pytest.raises(ConfigError, match="labels_per_class: expected an integer >= 1"):
        labeled_per_class(Y, k)


@pytest.mark.parametrize(
    "y", [np.zeros((3, 2)), np.array([]), np.array([0.5, 1.0]), np.array(["a", "b"])]
)
def test_labels_must_be_integer_classes(y):
    with pytest.raises(DataError, match="y: expected"):
        labeled_per_class(y, 1)


def test_negative_labels_are_refused():
    with pytest.raises(DataError, match="labels >= 0"):
        labeled_per_class(np.array([0, -1, 1]), 1)
