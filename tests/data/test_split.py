import json
import warnings

import numpy as np
import pytest

from deltaprop import backend
from deltaprop.data import Standardizer, kfold_indices, train_test_split
from deltaprop.errors import ConfigError, DataError, DeltapropError, ShapeError


def imbalanced(n0=80, n1=20, n2=100):
    y = np.repeat([0, 1, 2], [n0, n1, n2])
    X = np.arange(len(y) * 2, dtype=np.float32).reshape(-1, 2)
    return X, y


class TestTrainTestSplit:
    def test_sizes_and_disjoint(self):
        X, y = imbalanced()
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, seed=0)
        assert len(Xte) == 50 and len(Xtr) == 150 and len(ytr) == 150
        rows = np.concatenate([Xtr[:, 0], Xte[:, 0]])
        assert sorted(rows.tolist()) == X[:, 0].tolist()
        assert Xtr.dtype == np.float32

    def test_stratified_keeps_proportions(self):
        X, y = imbalanced()
        _, _, ytr, yte = train_test_split(X, y, test_size=0.2, seed=3)
        assert np.bincount(yte).tolist() == [16, 4, 20]
        assert np.bincount(ytr).tolist() == [64, 16, 80]

    def test_unstratified_differs(self):
        X, y = imbalanced()
        counts = {tuple(np.bincount(train_test_split(X, y, stratify=False, seed=s)[3], minlength=3))
                  for s in range(10)}  # fmt: skip
        assert len(counts) > 1

    def test_seeded(self):
        X, y = imbalanced()
        a = train_test_split(X, y, seed=5)
        b = train_test_split(X, y, seed=5)
        np.testing.assert_array_equal(a[1], b[1])
        backend.seed(1)
        c = train_test_split(X, y)
        backend.seed(1)
        np.testing.assert_array_equal(c[1], train_test_split(X, y)[1])

    def test_tiny_class_falls_back(self):
        X, y = imbalanced(10, 1, 10)
        with pytest.warns(UserWarning, match="cannot stratify"):
            Xtr, Xte, _, _ = train_test_split(X, y, seed=0)
        assert len(Xtr) + len(Xte) == 21

    def test_regression_targets_not_stratified(self):
        X = np.random.default_rng(0).normal(size=(20, 2))
        y = np.linspace(0, 1, 20) + 0.01
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            _, _, ytr, yte = train_test_split(X, y, seed=0)
        assert len(yte) == 4

    @pytest.mark.parametrize("bad", [0, 1, 1.5, -0.1, 0.0, True, "0.2", None])
    def test_bad_test_size(self, bad):
        X, y = imbalanced()
        with pytest.raises(ConfigError, match="test_size: expected a fraction in"):
            train_test_split(X, y, test_size=bad)

    def test_bad_data(self):
        with pytest.raises(
            DataError, match="X and y: expected the same number of rows, got 3 and 2"
        ):
            train_test_split(np.ones((3, 2)), [0, 1])
        with pytest.raises(DataError, match="X: expected enough rows"):
            train_test_split(np.ones((1, 2)), [0])


class TestKFold:
    def test_every_row_once_and_stratified(self):
        _, y = imbalanced()
        folds = list(kfold_indices(y, k=5, seed=0))
        assert len(folds) == 5
        val = np.concatenate([v for _, v in folds])
        assert sorted(val.tolist()) == list(range(len(y)))
        for tr, v in folds:
            assert np.intersect1d(tr, v).size == 0 and len(tr) + len(v) == len(y)
            assert np.bincount(y[v]).tolist() == [16, 4, 20]

    def test_seeded_and_unstratified(self):
        _, y = imbalanced()
        a = [v.tolist() for _, v in kfold_indices(y, k=3, stratified=False, seed=1)]
        b = [v.tolist() for _, v in kfold_indices(y, k=3, stratified=False, seed=1)]
        assert a == b

    def test_small_class_falls_back(self):
        y = np.array([0] * 10 + [1] * 2)
        with pytest.warns(UserWarning, match="smallest class has 2 rows"):
            folds = list(kfold_indices(y, k=3, seed=0))
        assert len(folds) == 3

    def test_regression_y(self):
        folds = list(kfold_indices(np.linspace(0, 1, 10) + 0.05, k=2, seed=0))
        assert len(folds) == 2

    def test_errors(self):
        with pytest.raises(ConfigError, match="k: expected an integer >= 2, got 1"):
            list(kfold_indices([0, 1, 0], k=1))
        with pytest.raises(ConfigError, match="k: expected an integer >= 2"):
            list(kfold_indices([0, 1, 0], k=2.0))
        with pytest.raises(DataError, match="y: expected at least k=5 rows for 5 folds, got 3"):
            list(kfold_indices([0, 1, 0], k=5))


class TestStandardizer:
    def test_fit_on_train_only(self):
        rng = np.random.default_rng(0)
        train = rng.normal(3.0, 2.0, size=(200, 3)).astype(np.float32)
        test = rng.normal(5.0, 2.0, size=(50, 3)).astype(np.float32)
        s = Standardizer().fit(train)
        z = s.transform(train)
        np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-5)
        np.testing.assert_allclose(z.std(axis=0), 1, atol=1e-4)
        zt = s.transform(test)
        assert zt.dtype == np.float32
        assert np.all(zt.mean(axis=0) > 0.5)  # the test shift stays visible
        np.testing.assert_allclose(s.inverse_transform(zt), test, rtol=1e-5, atol=1e-5)

    def test_zero_variance_gives_no_nan(self):
        X = np.column_stack([np.full(5, 7.0), np.arange(5.0)])
        z = Standardizer().fit_transform(X)
        assert np.all(np.isfinite(z)) and z.dtype == np.float64
        np.testing.assert_array_equal(z[:, 0], 0)

    def test_state_roundtrip_is_json(self):
        X = np.random.default_rng(1).normal(size=(30, 4))
        s = Standardizer().fit(X)
        d = json.loads(json.dumps(s.state()))
        assert set(d) == {"mean", "scale"} and all(isinstance(v, float) for v in d["mean"])
        r = Standardizer.from_state(d)
        np.testing.assert_allclose(r.transform(X), s.transform(X))
        np.testing.assert_allclose(r.mean, s.mean)
        assert "n_features=4" in repr(r)

    def test_errors(self):
        s = Standardizer()
        assert not s.fitted and "unfitted" in repr(s)
        with pytest.raises(DeltapropError, match="call fit"):
            s.transform(np.ones((2, 2)))
        s.fit(np.ones((3, 2)))
        with pytest.raises(ShapeError, match="X: expected 2 features"):
            s.transform(np.ones((3, 3)))
        with pytest.raises(DataError, match="X: expected finite values"):
            s.transform(np.array([[np.nan, 1.0]]))
        with pytest.raises(DataError, match="state: expected a dict with keys"):
            Standardizer.from_state({"mean": [0.0]})
        with pytest.raises(
            ShapeError, match="state: expected 'mean' and 'scale' of the same length"
        ):
            Standardizer.from_state({"mean": [0.0], "scale": [1.0, 2.0]})
        with pytest.raises(DataError, match="positive finite scales"):
            Standardizer.from_state({"mean": [0.0], "scale": [0.0]})
        with pytest.raises(DataError, match="state: expected lists of numbers"):
            Standardizer.from_state({"mean": ["a"], "scale": [1.0]})
