"""DeltapropClassifier / DeltapropRegressor: every option, scikit-learn's tools around them
(Pipeline, GridSearchCV, cross_val_score, clone), pickling through the model file, and the
bad inputs (sparse, NaN, unknown labels, bad parameters)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from scipy import sparse
from sklearn.base import clone
from sklearn.datasets import load_iris, make_regression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import deltaprop as dp
from deltaprop.errors import ConfigError, DataError
from deltaprop.recipe import FIELD_SPECS
from deltaprop.sklearn import PARAMS, DeltapropClassifier, DeltapropRegressor

FAST = {"hidden": "16", "epochs": 15, "optimizer": "adam", "lr": 0.01}


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return X, y


def test_parameters_are_the_recipes_keys_with_its_defaults():
    params = DeltapropClassifier().get_params()
    assert set(params) == set(PARAMS) | {"class_weight", "standardize", "verbose"}
    assert set(DeltapropRegressor().get_params()) == set(PARAMS) | {"standardize", "verbose"}
    for key in PARAMS:
        if key != "validation_split":  # the one documented difference
            assert params[key] == FIELD_SPECS[key].default, key
    assert params["validation_split"] is None
    clf = DeltapropClassifier(hidden="8", lr=0.5).set_params(epochs=3)
    assert (clf.hidden, clf.lr, clf.epochs) == ("8", 0.5, 3)  # stored as given
    with pytest.raises(TypeError, match="unexpected keyword argument 'hiden'"):
        DeltapropClassifier(hiden="8")


def test_fit_predict_score_and_fitted_attributes(iris):
    X, y = iris
    clf = DeltapropClassifier(**FAST).fit(X, y)
    assert clf.score(X, y) > 0.9
    assert clf.n_features_in_ == 4 and list(clf.classes_) == [0, 1, 2]
    proba = clf.predict_proba(X[:5])
    assert proba.shape == (5, 3) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.predict(X[:5]), proba.argmax(axis=1))
    assert len(clf.history_["loss"]) == 15 and clf.history_["loss"][-1] < clf.history_["loss"][0]
    assert isinstance(clf.model_, dp.nn.Module) and isinstance(clf.trainer_, dp.Trainer)


def test_string_labels_are_mapped_back(iris):
    X, y = iris
    names = np.array(["setosa", "versicolor", "virginica"], dtype=object)[y]
    clf = DeltapropClassifier(**FAST).fit(X, names)
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    pred = clf.predict(X)
    assert set(pred) <= set(clf.classes_) and np.mean(pred == names) > 0.9


def test_fit_is_repeatable_and_the_seed_matters(iris):
    X, y = iris
    a = DeltapropClassifier(**FAST, seed=1).fit(X, y).predict_proba(X)
    b = DeltapropClassifier(**FAST, seed=1).fit(X, y).predict_proba(X)
    c = DeltapropClassifier(**FAST, seed=2).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_standardize_option(iris):
    X, y = iris
    X_big = X * 1000.0 + 5000.0  # features on a scale sgd at lr 0.1 cannot take raw
    clf = DeltapropClassifier(hidden="16", epochs=15).fit(X_big, y)
    assert clf.score(X_big, y) > 0.85
    with pytest.raises(dp.TrainingError, match="loss diverged"):
        DeltapropClassifier(hidden="16", epochs=15, standardize=False).fit(X_big, y)
    raw = DeltapropClassifier(**FAST, standardize=False).fit(X, y)
    scaled = DeltapropClassifier(**FAST).fit(X, y)
    assert not np.array_equal(raw.predict_proba(X), scaled.predict_proba(X))
    assert raw._x_scaler is None


def test_options_reach_the_network_and_the_trainer(iris):
    X, y = iris
    clf = DeltapropClassifier(hidden="12,6", activation="tanh", dropout=0.1, batchnorm=True,
                              epochs=2, optimizer="adam", lr=0.002, l2=1e-3)  # fmt: skip
    clf.fit(X, y)
    layers = [type(m).__name__ for m in clf.model_]
    assert layers[:4] == ["Linear", "BatchNorm1d", "Tanh", "Dropout"]
    assert clf.model_[0].out_features == 12
    assert type(clf.trainer_.optimizer).__name__ == "Adam" and clf.trainer_.l2 == 1e-3
    assert clf.history_["lr"][0] == pytest.approx(0.002)
    stopped = DeltapropClassifier(**{**FAST, "epochs": 200}, early_stopping=2).fit(X, y)
    assert "val_loss" in stopped.history_ and len(stopped.history_["loss"]) < 200


def test_class_weight_balanced_favours_the_rare_class():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 2))
    y = (X[:, 0] + 0.8 * rng.standard_normal(200) > 1.3).astype(int)  # about 10% ones
    plain = DeltapropClassifier(**FAST).fit(X, y)
    weighted = DeltapropClassifier(**FAST, class_weight="balanced").fit(X, y)
    assert np.mean(weighted.predict(X)[y == 1] == 1) > np.mean(plain.predict(X)[y == 1] == 1)


def test_verbose_prints_the_epoch_lines(iris, capsys):
    X, y = iris
    DeltapropClassifier(**{**FAST, "epochs": 4}, log_every=2, verbose=True).fit(X, y)
    assert "epoch 4/4" in capsys.readouterr().out
    DeltapropClassifier(**{**FAST, "epochs": 4}).fit(X, y)
    assert capsys.readouterr().out == ""


def test_regressor_in_the_targets_units_and_multioutput():
    X, y = make_regression(200, 5, noise=1.0, random_state=0)
    reg = DeltapropRegressor(**{**FAST, "epochs": 40}).fit(X, y * 1000 + 5000)
    pred = reg.predict(X)
    assert pred.shape == (200,) and abs(pred.mean() - (y * 1000 + 5000).mean()) < 500
    assert reg.score(X, y * 1000 + 5000) > 0.9
    Y = np.column_stack([y, -2 * y])
    two = DeltapropRegressor(**{**FAST, "epochs": 40}).fit(X, Y)
    assert two.n_outputs_ == 2 and two.predict(X).shape == (200, 2)
    assert two.score(X, Y) > 0.9


def test_partial_fit_continues_training(iris):
    X, y = iris
    clf = DeltapropClassifier(**FAST)
    clf.partial_fit(X[:20], y[:20], classes=[0, 1, 2])  # one class missing from the first part
    assert list(clf.classes_) == [0, 1, 2]
    losses = []
    for _ in range(10):
        clf.partial_fit(X, y)
        losses.append(clf.history_["loss"][0])
    assert losses[-1] < losses[0] and clf.score(X, y) > 0.8
    with pytest.raises(DataError, match=r"y: label 7 is not one of the classes \[0, 1, 2\]"):
        clf.partial_fit(X[:3], [0, 7, 1])
    with pytest.raises(
        DataError, match="X: X has 3 features, but DeltapropClassifier is expecting 4"
    ):
        clf.partial_fit(X[:, :3], y)
    reg = DeltapropRegressor(**FAST).partial_fit(X, X[:, 0])
    first = reg.score(X, X[:, 0])
    for _ in range(10):
        reg.partial_fit(X, X[:, 0])
    assert reg.score(X, X[:, 0]) > first


def test_pickle_goes_through_the_model_file(iris):
    X, y = iris
    clf = DeltapropClassifier(**FAST).fit(X, np.array(["a", "b", "c"])[y])
    state = clf.__getstate__()
    assert state["_model_file"][8:9] == b"{"  # a safetensors file: 8-byte length, JSON header
    assert not {"model_", "trainer_", "_x_scaler"} & set(state)
    blob = pickle.dumps(clf)
    assert b"deltaprop.nn" not in blob and b"deltaprop.data" not in blob  # no objects of ours
    back = pickle.loads(blob)
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(back.predict(X), clf.predict(X))
    assert hasattr(clf, "trainer_")  # pickling did not strip the live estimator
    back.partial_fit(X, np.array(["a", "b", "c"])[y])  # a fresh optimizer on the same weights
    reg = DeltapropRegressor(**FAST).fit(X, X[:, 0] * 100)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(reg)).predict(X), reg.predict(X))


def test_a_tampered_pickle_is_refused(iris):
    X, y = iris
    state = DeltapropClassifier(**FAST).fit(X, y).__getstate__()
    data = bytearray(state["_model_file"])
    data[-3] ^= 0xFF  # one weight byte
    state["_model_file"] = bytes(data)
    with pytest.raises(dp.ModelFileError, match="checksum|corrupt"):
        DeltapropClassifier().__setstate__(state)


def test_pipeline_grid_search_cross_val_score_and_clone(iris):
    X, y = iris
    pipe = make_pipeline(StandardScaler(), DeltapropClassifier(**FAST))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.85
    grid = GridSearchCV(pipe, {"deltapropclassifier__hidden": ["4", "16"]}, cv=2).fit(X, y)
    assert grid.best_params_["deltapropclassifier__hidden"] in ("4", "16")
    assert grid.score(X, y) > 0.85
    twin = clone(DeltapropClassifier(**FAST).fit(X, y))
    assert (
        not hasattr(twin, "model_")
        and twin.get_params() == DeltapropClassifier(**FAST).get_params()
    )


def test_feature_names_from_a_dataframe(iris):
    pd = pytest.importorskip("pandas")
    X, y = iris
    frame = pd.DataFrame(X, columns=["sl", "sw", "pl", "pw"])
    clf = DeltapropClassifier(**FAST).fit(frame, y)
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        clf.predict(X)  # scikit-learn's own warning: names given at fit, not at predict
    assert list(clf.feature_names_in_) == ["sl", "sw", "pl", "pw"]
    assert clf.score(frame, y) > 0.9


# --- bad input ------------------------------------------------------------------------------


def test_sparse_input_is_refused_naming_X(iris):
    X, y = iris
    with pytest.raises(DataError, match="X: sparse input is not supported"):
        DeltapropClassifier(**FAST).fit(sparse.csr_matrix(X), y)
    clf = DeltapropRegressor(**FAST).fit(X, y)
    with pytest.raises(DataError, match="X: sparse input"):
        clf.predict(sparse.csr_matrix(X))


def test_nan_and_inf_are_refused_naming_X_or_y(iris):
    X, y = iris
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(DataError, match="X: Input X contains NaN"):
        DeltapropClassifier(**FAST).fit(bad, y)
    with pytest.raises(DataError, match="y: Input y contains NaN"):
        DeltapropRegressor(**FAST).fit(X, np.where(y == 1, np.nan, y))
    clf = DeltapropClassifier(**FAST).fit(X, y)
    bad[3, 1] = np.inf
    with pytest.raises(DataError, match="X: Input X contains infinity"):
        clf.predict(bad)


def test_bad_labels_and_shapes(iris):
    X, y = iris
    with pytest.raises(DataError, match="y: expected at least 2 classes to learn, got 1 class"):
        DeltapropClassifier(**FAST).fit(X, np.zeros(len(y)))
    with pytest.raises(DataError, match="y: Unknown label type"):
        DeltapropClassifier(**FAST).fit(X, y + 0.5)
    with pytest.raises(DataError, match="y: .*inconsistent numbers of samples"):
        DeltapropClassifier(**FAST).fit(X, y[:-1])
    with pytest.raises(DataError, match="y: DeltapropRegressor requires y"):
        DeltapropRegressor(**FAST).fit(X, None)
    with pytest.raises(DataError, match="X: Expected 2D array, got 1D array"):
        DeltapropClassifier(**FAST).fit(X[:, 0], y)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        DeltapropClassifier().predict(X)


def test_bad_parameters_are_config_errors_naming_the_key(iris):
    X, y = iris
    with pytest.raises(ConfigError, match="lr: expected a finite number > 0, got -1"):
        DeltapropClassifier(lr=-1).fit(X, y)
    with pytest.raises(ConfigError, match="optimizer: unknown name 'adamm'"):
        DeltapropRegressor(optimizer="adamm").fit(X, y)
    with pytest.raises(ConfigError, match="class_weight: unknown name 'heavy'"):
        DeltapropClassifier(class_weight="heavy").fit(X, y)
    assert not hasattr(DeltapropClassifier(lr=-1), "model_")
