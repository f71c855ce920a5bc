"""fit(validation_split=...) and dp.cross_validate."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn
from deltaprop.errors import ConfigError, DataError
from deltaprop.optim import SGD
from deltaprop.train import Trainer
from deltaprop.train.callbacks import EarlyStopping
from deltaprop.train.validation import holdout_indices


class Recorder(nn.Module):
    """Records the rows the inner model sees in training mode."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.rows = []

    def forward(self, x):
        if self.training:
            self.rows.append(x.data.copy())
        return self.inner(x)


def data(n=50, seed=0, k=2):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3)).astype(np.float32)
    X[:, 2] = np.arange(n)  # row ids, to see which rows were trained on
    y = np.repeat(np.arange(k), [n - n // 5 * (k - 1)] + [n // 5] * (k - 1))  # 80/20 for k=2
    return X, y


def trainer_for(model=None, k=2):
    dp.seed(0)
    model = model if model is not None else nn.Linear(3, k)
    return Trainer(model, nn.CrossEntropyLoss(), SGD(model.parameters(), lr=0.01))


# --- validation_split ----------------------------------------------------------------------------


def trained_rows(seed, split=0.2):
    X, y = data()
    rec = Recorder(nn.Linear(3, 2))
    trainer_for(rec).fit(
        X, y, epochs=1, batch_size=8, validation_split=split, seed=seed, verbose=False
    )
    return sorted(int(r) for batch in rec.rows for r in batch[:, 2])


def test_validation_split_sizes_stratification_and_rows_independent_of_the_shuffle():
    X, y = data()
    tr, va = holdout_indices(y, 0.2, stratify=True)
    assert len(va) == 10 and len(tr) == 40 and not set(tr) & set(va)
    assert np.bincount(y[va]).tolist() == [8, 2]  # the 80/20 class shares, kept
    assert list(tr) == sorted(tr)  # rows keep their order
    rows = trained_rows(seed=1)
    assert rows == tr.tolist()
    assert trained_rows(seed=2) == rows  # a different shuffle, the same split
    dp.seed(123)
    assert holdout_indices(y, 0.2, stratify=True)[1].tolist() == va.tolist()


def test_validation_split_scores_the_held_out_rows():
    X, y = data()
    trainer = trainer_for()
    history = trainer.fit(X, y, epochs=2, validation_split=0.2, verbose=False)
    _, va = holdout_indices(y, 0.2, stratify=True)
    scores = trainer.evaluate(X[va], y[va])
    assert history.history["val_loss"][-1] == pytest.approx(scores["loss"])
    assert history.history["val_accuracy"][-1] == pytest.approx(scores["accuracy"])


def test_validation_split_for_regression_is_unstratified():
    X, _ = data(n=20)
    y = X[:, :1] * 2.0
    dp.seed(0)
    model = nn.Linear(3, 1)
    trainer = Trainer(model, "mse", SGD(model.parameters(), lr=1e-4))
    history = trainer.fit(X, y, epochs=1, validation_split=0.25, verbose=False)
    assert "val_loss" in history.history and "val_mae" in history.history


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            {"validation_split": 1.0},
            ConfigError,
            r"validation_split: expected a fraction in \(0, 1\)",
        ),
        ({"validation_split": 0}, ConfigError, r"validation_split: expected a fraction"),
        ({"validation_split": "0.2"}, ConfigError, r"validation_split: expected a fraction"),
        (
            {"validation_split": 0.2, "validation_data": "x"},
            ConfigError,
            "validation_split: give validation_split or validation_data, not both",
        ),
        ({"validation_split": 0.99}, DataError, "validation_split"),
    ],
)
def test_bad_validation_split(kwargs, error, match):
    X, y = data(n=10)
    trainer = trainer_for()
    before = [p.data.copy() for p in trainer.model.parameters()]
    with pytest.raises(error, match=match):
        trainer.fit(X, y, epochs=1, verbose=False, **kwargs)
    for p, w in zip(trainer.model.parameters(), before):
        np.testing.assert_array_equal(p.data, w)


# --- cross_validate ------------------------------------------------------------------------------


def build():
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 3))
    return Trainer(model, nn.CrossEntropyLoss(), SGD(model.parameters(), lr=0.05))


def test_cross_validate_folds_cover_every_row_once_with_mean_and_std():
    X, y = data(n=60, k=3)
    dp.seed(0)
    result = dp.cross_validate(build, X, y, k=4, seed=0, fit_kwargs={"epochs": 3, "verbose": False})
    assert set(result) == {"folds", "mean", "std", "val_indices"}
    folds, held_out = result["folds"], result["val_indices"]
    assert len(folds) == 4 and len(held_out) == 4
    assert sorted(np.concatenate(held_out).tolist()) == list(range(60))  # disjoint, covering
    assert all(len(v) == 15 for v in held_out)
    for v in held_out:  # stratified: 36/12/12 rows -> 9/3/3 per fold
        assert np.bincount(y[v], minlength=3).tolist() == [9, 3, 3]
    assert all(f["epochs"] == 3 and set(f) == {"loss", "accuracy", "epochs"} for f in folds)
    for key in ("loss", "accuracy"):
        values = [f[key] for f in folds]
        assert result["mean"][key] == pytest.approx(np.mean(values))
        assert result["std"][key] == pytest.approx(np.std(values))
    assert set(result["mean"]) == {"loss", "accuracy"}


def test_cross_validate_scores_each_fold_on_its_held_out_rows_only():
    X, y = data(n=40, k=2)
    trainers = []

    def recorded():
        trainers.append(build_two())
        return trainers[-1]

    def build_two():
        model = Recorder(nn.Linear(3, 2))
        return Trainer(model, nn.CrossEntropyLoss(), SGD(model.parameters(), lr=0.05))

    dp.seed(1)
    result = dp.cross_validate(recorded, X, y, k=2, fit_kwargs={"epochs": 1, "verbose": False})
    for trainer, held_out, fold in zip(trainers, result["val_indices"], result["folds"]):
        seen = {int(r) for batch in trainer.model.rows for r in batch[:, 2]}
        assert seen == set(range(40)) - set(held_out.tolist())
        assert fold["loss"] == pytest.approx(trainer.evaluate(X[held_out], y[held_out])["loss"])


def test_cross_validate_with_early_stopping_reports_the_epochs_trained():
    X, y = data(n=40)

    def with_es():
        trainer = build()
        trainer.callbacks.append(EarlyStopping(monitor="loss", patience=0, verbose=False))
        trainer.callbacks.set_trainer(trainer)
        return trainer

    dp.seed(0)
    result = dp.cross_validate(
        with_es, X, y, k=2, fit_kwargs={"epochs": 50, "verbose": False, "validation_split": 0.25}
    )
    assert all(1 <= f["epochs"] <= 50 for f in result["folds"])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"k": 1}, "k: expected an integer >= 2"),
        ({"k": 2.0}, "k: expected an integer >= 2"),
        ({"k": 11}, r"k: expected at most the number of rows \(10\), got 11"),
        ({"build": "mlp"}, "build: expected a function that returns a new Trainer"),
        ({"build": lambda: nn.Linear(3, 2)}, "build: expected it to return a deltaprop Trainer"),
        ({"stratified": "yes"}, "stratified: expected True or False"),
        ({"seed": -1}, "seed: expected an integer >= 0"),
        ({"fit_kwargs": [1]}, "fit_kwargs: expected a dict"),
        ({"fit_kwargs": {"validation_data": None}}, r"fit_kwargs: \['validation_data'\] cannot"),
    ],
)
def test_cross_validate_bad_arguments(kwargs, match):
    X, y = data(n=10)
    args = {"build": build, "k": 2, **kwargs}
    with pytest.raises(ConfigError, match=match):
        dp.cross_validate(args.pop("build"), X, y, **args)


def test_cross_validate_refuses_a_build_that_reuses_its_trainer():
    X, y = data(n=10)
    trainer = build()
    with pytest.raises(ConfigError, match="build: it returned a Trainer"):
        dp.cross_validate(lambda: trainer, X, y, k=2, fit_kwargs={"verbose": False})
    with pytest.raises(DataError, match="X and y: expected the same number of rows"):
        dp.cross_validate(build, X, y[:5], k=2)
