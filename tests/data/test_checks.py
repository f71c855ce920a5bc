import numpy as np
import pytest

from deltaprop.data import check_features, check_labels, check_targets, check_X_y, infer_task
from deltaprop.errors import ConfigError, DataError, ShapeError


class TestCheckFeatures:
    def test_dtypes(self):
        assert check_features(np.ones((3, 2))).dtype == np.float64
        assert check_features(np.ones((3, 2), dtype=np.float32)).dtype == np.float32
        assert check_features(np.ones((3, 2), dtype=np.int64)).dtype == np.float32
        assert check_features(np.ones((3, 2), dtype=bool)).dtype == np.float32
        assert check_features([[1, 2], [3, 4]]).dtype == np.float32
        assert check_features([[1.5, 2.0]]).dtype == np.float32  # lists get the default dtype
        assert check_features(np.ones((3, 2), dtype=np.float16)).dtype == np.float32

    def test_object_arrays(self):
        assert check_features(np.array([[1, 2.5]], dtype=object)).dtype == np.float32
        assert check_labels(np.array([0, 1], dtype=object)).tolist() == [0, 1]
        with pytest.raises(DataError, match="X: expected numbers, got dtype object"):
            check_features(np.array([["1", 2]], dtype=object))

    def test_no_copy_for_float32(self):
        X = np.ones((3, 2), dtype=np.float32)
        assert check_features(X) is X

    def test_1d_is_shape_error(self):
        with pytest.raises(ShapeError, match=r"X: expected a \(n_samples, n_features\).*reshape"):
            check_features(np.ones(5))

    def test_nd_needs_allow_nd(self):
        with pytest.raises(ShapeError, match=r"images: expected .*got shape \(2, 1, 3, 3\)"):
            check_features(np.ones((2, 1, 3, 3)), name="images")
        assert check_features(np.ones((2, 1, 3, 3)), allow_nd=True).shape == (2, 1, 3, 3)
        with pytest.raises(ShapeError):
            check_features(np.ones(3), allow_nd=True)

    def test_empty(self):
        with pytest.raises(DataError, match="X: expected at least one sample"):
            check_features(np.ones((0, 3)))
        with pytest.raises(DataError, match="Xv: expected at least one sample"):
            check_features(np.ones((3, 0)), name="Xv")

    def test_nan_inf_counted_with_position(self):
        X = np.zeros((4, 3))
        X[1, 2] = np.nan
        X[3, 0] = np.inf
        with pytest.raises(DataError, match=r"Xt: .*2 NaN/Inf.*nan at index \(1, 2\)"):
            check_features(X, name="Xt")

    def test_n_features(self):
        check_features(np.ones((2, 4)), n_features=4)
        with pytest.raises(
            ShapeError, match=r"X: expected 5 features \(the model's input size\), got 4"
        ):
            check_features(np.ones((2, 4)), n_features=5)

    def test_non_numeric(self):
        with pytest.raises(DataError, match="X: expected numbers, got dtype <U1"):
            check_features([["a", "b"]])
        with pytest.raises(DataError, match="X: expected real numbers"):
            check_features(np.ones((2, 2), dtype=complex))
        with pytest.raises(DataError, match="X: expected a rectangular array"):
            check_features([[1, 2], [3]])
        with pytest.raises(DataError, match="X: expected an array, got None"):
            check_features(None)


class TestCheckLabels:
    def test_ints_and_integral_floats(self):
        y = check_labels([0, 2, 1])
        assert y.dtype == np.int64 and y.tolist() == [0, 2, 1]
        assert check_labels(np.array([0.0, 1.0, 2.0])).tolist() == [0, 1, 2]
        assert check_labels(np.array([[1], [0]])).tolist() == [1, 0]
        assert check_labels(np.array([True, False])).tolist() == [1, 0]

    def test_negative(self):
        with pytest.raises(
            DataError, match=r"y: expected integer class labels 0..k-1, got -1 at index 3"
        ):
            check_labels([0, 1, 2, -1])

    def test_non_integer_float_and_nan(self):
        with pytest.raises(
            DataError, match="y: expected integer class labels 0..k-1, got 0.5 at index 1"
        ):
            check_labels([1.0, 0.5])
        with pytest.raises(DataError, match="labels: .*got nan at index 2"):
            check_labels([1.0, 0.0, np.nan], name="labels")
        with pytest.raises(DataError, match="got inf at index 0"):
            check_labels([np.inf])

    def test_strings(self):
        with pytest.raises(
            DataError, match=r"y: expected integer class labels.*got dtype <U3.*'cat'"
        ):
            check_labels(["cat", "dog"])

    def test_n_classes(self):
        assert check_labels([0, 1, 2], n_classes=3).tolist() == [0, 1, 2]
        with pytest.raises(
            DataError,
            match=r"yv: expected integer class labels 0..2 \(n_classes=3\), got 3 at index 1",
        ):
            check_labels([0, 3], name="yv", n_classes=3)

    def test_shape_and_empty(self):
        with pytest.raises(ShapeError, match=r"y: expected a 1-D array of class labels"):
            check_labels(np.zeros((3, 2)))
        with pytest.raises(DataError, match="y: expected at least one label"):
            check_labels([])


class TestCheckTargets:
    def test_1d_becomes_column(self):
        y = check_targets([1.5, 2.5])
        assert y.shape == (2, 1) and y.dtype == np.float32
        assert check_targets(np.ones((3, 2))).shape == (3, 2)
        assert check_targets(np.ones(3)).dtype == np.float64

    def test_bad(self):
        with pytest.raises(
            DataError, match=r"t: expected finite values, got 1 NaN/Inf.*index \(1, 0\)"
        ):
            check_targets([1.0, np.nan], name="t")
        with pytest.raises(DataError, match="y: expected at least one target"):
            check_targets([])
        with pytest.raises(ShapeError, match="y: expected"):
            check_targets(np.ones((2, 2, 2)))
        with pytest.raises(DataError, match="y: expected numbers"):
            check_targets(["a"])


def test_infer_task():
    assert infer_task([0, 1, 1]) == "classification"
    assert infer_task(np.array([0.0, 2.0])) == "classification"
    assert infer_task(["a", "b"]) == "classification"
    assert infer_task(np.array([[1], [0]])) == "classification"
    assert infer_task([0.5, 1.0]) == "regression"
    assert infer_task(np.ones((3, 2))) == "regression"
    assert infer_task([np.nan, 1.0]) == "regression"


class TestCheckXy:
    def test_classification(self):
        X, y = check_X_y(np.ones((3, 2)), [0, 1, 0], n_features=2, n_classes=2)
        assert X.shape == (3, 2) and y.dtype == np.int64

    def test_regression_and_inferred(self):
        _, y = check_X_y(np.ones((3, 2)), [0.5, 1, 2], task="regression")
        assert y.shape == (3, 1)
        _, y = check_X_y(np.ones((3, 2)), [0.5, 1, 2], task=None)
        assert y.shape == (3, 1)
        _, y = check_X_y(np.ones((3, 2)), [0, 1, 2], task=None)
        assert y.shape == (3,)

    def test_length_mismatch(self):
        with pytest.raises(
            DataError, match="X and y: expected the same number of rows, got 100 and 99"
        ):
            check_X_y(np.ones((100, 2)), np.zeros(99, dtype=int))

    def test_bad_task(self):
        with pytest.raises(
            ConfigError,
            match=r"task: unknown name 'ranking'; expected one of \('classification', 'regression'",
        ):
            check_X_y(np.ones((2, 2)), [0, 1], task="ranking")

    def test_allow_nd(self):
        X, _ = check_X_y(np.ones((2, 1, 2, 2)), [0, 1], allow_nd=True)
        assert X.ndim == 4
