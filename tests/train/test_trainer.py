"""Trainer: the three descent modes, metrics, logging, reproducibility, NaN stops, bad input."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import backend, nn, optim
from deltaprop.errors import ConfigError, DataError, ShapeError, TrainingError
from deltaprop.optim import SGD
from deltaprop.train import Callback, History, Trainer

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
XOR_Y = np.array([0, 1, 1, 0])


class CountingSGD(SGD):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.steps = 0

    def step(self):
        self.steps += 1
        super().step()


class Recorder(nn.Module):
    """Wraps a model and records the rows it sees in training mode, and the mode of each call."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.rows = []
        self.modes = []

    def forward(self, x):
        self.modes.append(self.training)
        if self.training:
            self.rows.append(x.data.copy())
        return self.inner(x)


def xor_net(seed=0):
    dp.seed(seed)
    return nn.Sequential(nn.Linear(2, 4, init="xavier"), nn.Tanh(), nn.Linear(4, 2, init="xavier"))


def small_data(n=60, d=5, k=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 1).astype(np.int64)
    return X, np.minimum(y, k - 1)


def small_trainer(d=5, k=3, momentum=0.9, seed=0, **kwargs):
    dp.seed(seed)
    model = nn.Sequential(nn.Linear(d, 8), nn.ReLU(), nn.Linear(8, k))
    opt = SGD(model.parameters(), lr=0.05, momentum=momentum)
    return Trainer(model, nn.CrossEntropyLoss(), opt, **kwargs)


def weights(model):
    return [p.data.copy() for p in model.parameters()]


def assert_same_weights(model, saved):
    for p, w in zip(model.parameters(), saved, strict=True):
        np.testing.assert_array_equal(p.data, w)


# --- XOR in the three descent modes ------------------------------------------------------------


@pytest.mark.parametrize(
    "descent, lr, epochs", [("batch", 0.5, 300), ("stochastic", 0.05, 300), ("minibatch", 0.1, 300)]
)
def test_xor_is_learned_in_every_descent_mode(descent, lr, epochs):
    model = xor_net()
    opt = CountingSGD(model.parameters(), lr=lr, momentum=0.9)
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt)
    history = trainer.fit(XOR_X, XOR_Y, epochs=epochs, descent=descent, batch_size=2, verbose=False)
    steps_per_epoch = {"batch": 1, "stochastic": 4, "minibatch": 2}[descent]
    assert opt.steps == epochs * steps_per_epoch
    assert history.params["steps"] == steps_per_epoch
    np.testing.assert_array_equal(trainer.predict_classes(XOR_X), XOR_Y)
    assert history.history["accuracy"][-1] == 1.0
    assert history.history["loss"][-1] < 0.1 < history.history["loss"][0]


@pytest.mark.parametrize(
    "descent, batch_size, n, expected",
    [
        ("stochastic", 32, 10, 10),
        ("batch", 3, 10, 1),
        ("minibatch", 3, 10, 4),  # ceil(10 / 3)
        ("minibatch", 5, 10, 2),
        ("minibatch", 64, 10, 1),  # capped at n
    ],
)
def test_optimizer_steps_per_epoch(descent, batch_size, n, expected):
    X, y = small_data(n=n)
    trainer = small_trainer()
    opt = CountingSGD(trainer.model.parameters(), lr=0.01)
    trainer.optimizer = opt
    trainer.fit(X, y, epochs=3, descent=descent, batch_size=batch_size, verbose=False)
    assert opt.steps == 3 * expected


def test_stochastic_visits_every_example_once_per_epoch_in_a_fresh_order():
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = np.array([0, 1, 0, 1, 0, 1])
    rec = Recorder(nn.Sequential(nn.Linear(2, 2)))
    trainer = Trainer(rec, nn.CrossEntropyLoss(), SGD(rec.parameters(), lr=1e-3))
    trainer.fit(X, y, epochs=3, descent="stochastic", seed=1, verbose=False)
    assert all(r.shape == (1, 2) for r in rec.rows)
    orders = [tuple(int(r[0, 0]) // 2 for r in rec.rows[e * 6 : (e + 1) * 6]) for e in range(3)]
    assert all(sorted(o) == list(range(6)) for o in orders)
    assert len(set(orders)) == 3


def test_batch_mode_sees_all_rows_in_one_forward():
    X, y = small_data(n=20)
    rec = Recorder(nn.Sequential(nn.Linear(5, 3)))
    trainer = Trainer(rec, nn.CrossEntropyLoss(), SGD(rec.parameters(), lr=1e-3))
    trainer.fit(X, y, epochs=2, descent="batch", verbose=False)
    assert [r.shape for r in rec.rows] == [(20, 5), (20, 5)]


def test_training_metrics_come_from_the_same_forward_passes():
    X, y = small_data(n=30)
    Xv, yv = small_data(n=10, seed=1)
    rec = Recorder(nn.Sequential(nn.Linear(5, 3)))
    trainer = Trainer(rec, nn.CrossEntropyLoss(), SGD(rec.parameters(), lr=1e-3))
    rec.modes.clear()
    trainer.fit(X, y, epochs=2, batch_size=8, validation_data=(Xv, yv), verbose=False)
    # 4 training forwards per epoch, 1 validation forward per epoch, 2 probes (X and X_val),
    # 1 for the loss the divergence check starts from (once per fit).
    assert rec.modes.count(True) == 8
    assert rec.modes.count(False) == 2 + 2 + 1


# --- a real data set ---------------------------------------------------------------------------


def test_digits_reach_95_percent_test_accuracy():
    datasets = pytest.importorskip("sklearn.datasets")
    model_selection = pytest.importorskip("sklearn.model_selection")
    X, y = datasets.load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = model_selection.train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    mean, std = X_tr.mean(axis=0), X_tr.std(axis=0) + 1e-8
    X_tr, X_te = (X_tr - mean) / std, (X_te - mean) / std
    dp.seed(0)
    model = nn.Sequential(nn.Linear(64, 64, init="he"), nn.ReLU(), nn.Linear(64, 10))
    trainer = Trainer(model, nn.CrossEntropyLoss(), SGD(model.parameters(), lr=0.05, momentum=0.9))
    history = trainer.fit(
        X_tr, y_tr, epochs=15, batch_size=32, validation_data=(X_te, y_te), verbose=False
    )
    result = trainer.evaluate(X_te, y_te)
    assert result["accuracy"] >= 0.95
    assert result["accuracy"] == pytest.approx(history.history["val_accuracy"][-1])
    assert result["loss"] == pytest.approx(history.history["val_loss"][-1])


# --- logging and history -----------------------------------------------------------------------


def test_log_every_prints_exactly_the_expected_epochs(capsys):
    X, y = small_data()
    Xv, yv = small_data(n=12, seed=1)
    small_trainer().fit(X, y, epochs=7, log_every=3, validation_data=(Xv, yv))
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[1] for line in lines] == ["3/7", "6/7", "7/7"]
    pattern = (
        r"epoch \d/7  loss \d+\.\d{4}  accuracy \d\.\d{4}  val_loss \d+\.\d{4}  "
        r"val_accuracy \d\.\d{4}  lr 0\.05  \d+\.\d{2}s"
    )
    assert all(re.fullmatch(pattern, line) for line in lines), lines


def test_verbose_false_prints_nothing(capsys):
    X, y = small_data()
    small_trainer().fit(X, y, epochs=3, verbose=False)
    assert capsys.readouterr().out == ""


def test_history_keys_lengths_and_epochs():
    X, y = small_data()
    Xv, yv = small_data(n=12, seed=1)
    trainer = small_trainer()
    history = trainer.fit(X, y, epochs=4, validation_data=(Xv, yv), verbose=False)
    assert isinstance(history, History) and trainer.history is history
    assert list(history.history) == [
        "loss", "accuracy", "val_loss", "val_accuracy", "lr", "epoch_seconds"
    ]  # fmt: skip
    assert all(len(v) == 4 for v in history.history.values())
    assert history.epoch == [0, 1, 2, 3]
    assert all(isinstance(v, float) for vs in history.history.values() for v in vs)
    assert all(0 <= a <= 1 for a in history.history["accuracy"])
    without_val = small_trainer().fit(X, y, epochs=2, verbose=False)
    assert list(without_val.history) == ["loss", "accuracy", "lr", "epoch_seconds"]


def test_epoch_loss_and_accuracy_are_row_weighted_means_of_the_batches():
    X, y = small_data(n=10)
    trainer = small_trainer(momentum=0.0)
    seen = []

    class Spy(Callback):
        def on_batch_begin(self, batch, logs=None):
            out = self.trainer.model(dp.Tensor(X_perm[batch * 4 : batch * 4 + 4])).data
            seen.append(out)

    # Reproduce the epoch's order: the same seed gives the same permutation.
    perm = backend.spawn_rng(3).permutation(10)
    X_perm, y_perm = X[perm], y[perm]
    trainer.callbacks = type(trainer.callbacks)([Spy()], trainer=trainer)
    history = trainer.fit(X, y, epochs=1, batch_size=4, seed=3, verbose=False)
    losses = [nn.CrossEntropyLoss()(dp.Tensor(o), y_perm[i * 4 : i * 4 + 4]) for i, o in
              enumerate(seen)]  # fmt: skip
    sizes = [4, 4, 2]
    expected_loss = sum(float(v.data) * s for v, s in zip(losses, sizes)) / 10
    expected_acc = (
        sum(int((o.argmax(1) == y_perm[i * 4 : i * 4 + 4]).sum()) for i, o in enumerate(seen)) / 10
    )
    assert history.history["loss"][0] == pytest.approx(expected_loss, rel=1e-6)
    assert history.history["accuracy"][0] == pytest.approx(expected_acc)


# --- evaluate / predict ------------------------------------------------------------------------


def test_evaluate_predict_and_predict_classes_agree():
    X, y = small_data(n=40)
    trainer = small_trainer()
    trainer.fit(X, y, epochs=3, verbose=False)
    probs = trainer.predict(X)
    assert probs.shape == (40, 3) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    classes = trainer.predict_classes(X)
    assert classes.shape == (40,) and classes.dtype == np.int64
    np.testing.assert_array_equal(classes, probs.argmax(axis=1))
    result = trainer.evaluate(X, y)
    assert set(result) == {"loss", "accuracy"}
    assert result["accuracy"] == pytest.approx(np.mean(classes == y))
    expected = -np.mean(np.log(probs[np.arange(40), y].astype(np.float64)))
    assert result["loss"] == pytest.approx(expected, rel=1e-5)
    chunked = trainer.evaluate(X, y, batch_size=7)
    assert chunked["accuracy"] == result["accuracy"]
    assert chunked["loss"] == pytest.approx(result["loss"], rel=1e-6)
    np.testing.assert_allclose(trainer.predict(X, batch_size=9), probs, rtol=1e-6)
    assert trainer.predict(X[:1]).shape == (1, 3)


def test_f1_macro_is_reported_by_evaluate_and_for_validation():
    pytest.importorskip("sklearn")
    from sklearn.metrics import f1_score

    X, y = small_data(n=40)
    trainer = small_trainer(metrics=["accuracy", "f1_macro"])
    history = trainer.fit(X, y, epochs=2, validation_data=(X, y), verbose=False)
    assert "val_f1_macro" in history.history and "f1_macro" not in history.history
    result = trainer.evaluate(X, y)
    assert result["f1_macro"] == pytest.approx(
        f1_score(y, trainer.predict_classes(X), average="macro")
    )


def test_regression_with_mse():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3)).astype(np.float32)
    y = X @ np.array([1.0, -2.0, 0.5], dtype=np.float32) + 0.3
    dp.seed(0)
    model = nn.Sequential(nn.Linear(3, 1))
    trainer = Trainer(model, "mse", SGD(model.parameters(), lr=0.1))
    assert trainer.task == "regression" and trainer.metrics == ["mae"]
    history = trainer.fit(X, y, epochs=60, batch_size=16, verbose=False)
    assert history.history["loss"][-1] < 1e-3
    pred = trainer.predict(X)
    assert pred.shape == (64, 1)
    result = trainer.evaluate(X, y)
    assert result["mae"] == pytest.approx(np.mean(np.abs(pred[:, 0] - y)), rel=1e-5)
    assert result["loss"] == pytest.approx(np.mean((pred[:, 0] - y) ** 2), rel=1e-4)
    with pytest.raises(ConfigError, match="predict_classes: needs a classification task"):
        trainer.predict_classes(X)
    with pytest.raises(ConfigError, match=r"metrics\[0\]: expected one of .*'mae'.*got 'accuracy'"):
        Trainer(model, nn.MSELoss(), SGD(model.parameters(), lr=0.1), metrics=["accuracy"])


def test_binary_classification_with_bce():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 2)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    dp.seed(0)
    model = nn.Sequential(nn.Linear(2, 1))
    trainer = Trainer(model, nn.BCEWithLogitsLoss(), "sgd", lr=0.5)
    history = trainer.fit(X, y, epochs=30, batch_size=8, verbose=False)
    assert history.history["accuracy"][-1] >= 0.95
    probs = trainer.predict(X)
    assert probs.shape == (80, 1) and ((probs > 0) & (probs < 1)).all()
    np.testing.assert_array_equal(trainer.predict_classes(X), (probs[:, 0] > 0.5).astype(int))
    assert trainer.evaluate(X, y)["accuracy"] == pytest.approx(
        np.mean(trainer.predict_classes(X) == y)
    )


# --- modes -------------------------------------------------------------------------------------


def test_train_mode_during_fit_eval_mode_during_evaluate_and_modes_restored():
    X, y = small_data()
    rec = Recorder(nn.Sequential(nn.Linear(5, 8), nn.Dropout(0.5), nn.Linear(8, 3)))
    trainer = Trainer(rec, nn.CrossEntropyLoss(), SGD(rec.parameters(), lr=0.01))
    rec.eval()
    trainer.fit(X, y, epochs=1, batch_size=20, verbose=False)
    # the probe, then the loss the divergence check starts from (eval mode: no dropout draw)
    assert rec.modes[:2] == [False, False]
    assert rec.modes[2:] == [True, True, True]
    assert all(not m.training for m in rec.modules())  # back to eval, as it was
    rec.train()
    rec.modes.clear()
    trainer.evaluate(X, y)
    trainer.predict(X)
    assert rec.modes and not any(rec.modes)
    assert all(m.training for m in rec.modules())


# --- reproducibility ---------------------------------------------------------------------------


def _run(seed_call=None, fit_seed=None):
    X, y = small_data(n=50)
    if seed_call is not None:
        dp.seed(seed_call)
    model = nn.Sequential(nn.Linear(5, 8), nn.Dropout(0.2), nn.ReLU(), nn.Linear(8, 3))
    if fit_seed is not None:  # same initial weights, only the fit's order varies
        for p in model.parameters():
            p.data[...] = np.linspace(-0.5, 0.5, p.data.size).reshape(p.data.shape)
    trainer = Trainer(model, nn.CrossEntropyLoss(), SGD(model.parameters(), lr=0.05))
    trainer.fit(X, y, epochs=3, batch_size=8, seed=fit_seed, verbose=False)
    return weights(model)


def test_dp_seed_makes_runs_bit_identical():
    a, b = _run(seed_call=0), _run(seed_call=0)
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa, wb)
    c = _run(seed_call=1)
    assert any(not np.array_equal(wa, wc) for wa, wc in zip(a, c))


def test_fit_seed_makes_the_order_reproducible():
    dp.seed(0)
    a = _run(fit_seed=5)
    dp.seed(0)
    b = _run(fit_seed=5)
    dp.seed(0)
    c = _run(fit_seed=6)
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa, wb)
    assert any(not np.array_equal(wa, wc) for wa, wc in zip(a, c))


# --- NaN / Inf ---------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy's overflow notes, as intended
def test_nan_loss_stops_with_epoch_and_step_and_keeps_the_last_good_weights():
    X, y = small_data(n=40)
    trainer = small_trainer(momentum=0.0)
    trainer.optimizer.param_groups[0]["lr"] = 1e30
    before_step = []

    class Snap(Callback):
        def on_batch_begin(self, batch, logs=None):
            before_step.append((batch, weights(self.trainer.model)))

    trainer.callbacks = type(trainer.callbacks)([Snap()], trainer=trainer)
    with pytest.raises(TrainingError, match=r"loss became (NaN|Inf) at epoch 1, step (\d+)") as e:
        trainer.fit(X, y, epochs=5, batch_size=4, verbose=False)
    step = int(re.search(r"step (\d+)", str(e.value)).group(1))
    assert step == before_step[-1][0] + 1 and step >= 2
    assert "lr 1e+30" in str(e.value)
    assert all(np.isfinite(p.data).all() for p in trainer.model.parameters())
    assert_same_weights(trainer.model, before_step[-1][1])


def test_non_finite_weights_at_epoch_end_restore_the_epoch_start():
    X, y = small_data(n=12)
    trainer = small_trainer(momentum=0.0)
    calls = []

    class Poison(SGD):
        def step(self):
            super().step()
            calls.append(1)
            if len(calls) == 6:  # the last step of epoch 2: its loss was finite
                self.param_groups[0]["params"][0].data[0, 0] = np.inf

    trainer.optimizer = Poison(trainer.model.parameters(), lr=0.01)
    starts = []

    class Snap(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            starts.append(weights(self.trainer.model))

    trainer.callbacks = type(trainer.callbacks)([Snap()], trainer=trainer)
    with pytest.raises(TrainingError, match="weights became NaN/Inf during epoch 2"):
        trainer.fit(X, y, epochs=4, batch_size=4, verbose=False)
    assert len(starts) == 2
    assert_same_weights(trainer.model, starts[1])


def test_train_step_refuses_a_nan_loss_without_stepping():
    X, y = small_data(n=4)
    trainer = small_trainer()
    saved = weights(trainer.model)
    Xbad = X.copy()
    Xbad[0, 0] = np.nan
    with pytest.raises(TrainingError, match="step was not taken"):
        trainer.train_step(Xbad, y)
    assert_same_weights(trainer.model, saved)
    loss, correct = trainer.train_step(X, y)
    assert math.isfinite(loss) and 0 <= correct <= 4


# --- bad input changes nothing -----------------------------------------------------------------

X_OK, Y_OK = small_data(n=30)


def _nan_X():
    X = X_OK.copy()
    X[3, 2] = np.nan
    return X


def _inf_X():
    X = X_OK.copy()
    X[0, 0] = np.inf
    return X


BAD_FIT_CALLS = [
    ({"X": _nan_X()}, DataError, r"X: expected finite values"),
    ({"X": _inf_X()}, DataError, r"X: expected finite values"),
    ({"X": np.zeros((0, 5), np.float32), "y": np.zeros(0, int)}, DataError, r"^X: "),
    ({"X": X_OK[:, :4]}, ShapeError, r"X: expected 5 features \(the model's input size\), got 4"),
    ({"X": X_OK[:, 0]}, ShapeError, r"X: expected a \(n_samples, n_features\)"),
    ({"y": Y_OK[:-1]}, DataError, r"X and y: expected the same number of rows, got 30 and 29"),
    ({"y": np.where(Y_OK == 2, 3, Y_OK)}, DataError, r"y: expected integer class labels 0\.\.2"),
    ({"y": np.where(Y_OK == 2, -1, Y_OK)}, DataError, r"y: expected integer class labels"),
    ({"y": Y_OK + 0.5}, DataError, r"y: expected integer class labels"),
    ({"y": np.array(["a"] * 30)}, DataError, r"y: expected integer class labels"),
    ({"epochs": 0}, ConfigError, r"epochs: expected an integer >= 1, got 0"),
    ({"epochs": 2.5}, ConfigError, r"epochs: expected an integer >= 1, got 2\.5"),
    ({"epochs": True}, ConfigError, r"epochs: expected an integer >= 1, got True"),
    ({"batch_size": 0}, ConfigError, r"batch_size: expected an integer >= 1, got 0"),
    ({"batch_size": 4.0}, ConfigError, r"batch_size: expected an integer >= 1, got 4\.0"),
    (
        {"descent": "sgd"},
        ConfigError,
        r"descent: unknown name 'sgd'; expected one of \('batch', 'stochastic', ",
    ),
    ({"log_every": 0}, ConfigError, r"log_every: expected an integer >= 1, got 0"),
    ({"seed": -1}, ConfigError, r"seed: expected an integer >= 0, got -1"),
    ({"shuffle": "yes"}, ConfigError, r"shuffle: expected True or False"),
    ({"validation_data": (X_OK,)}, ConfigError, r"validation_data: expected a pair"),
    ({"validation_data": X_OK}, ConfigError, r"validation_data: expected a pair"),
    (
        {"validation_data": (X_OK[:, :3], Y_OK)},
        ShapeError,
        r"validation_data\[0\]: expected 5 features",
    ),
    (
        {"validation_data": (X_OK, np.full(30, 7))},
        DataError,
        r"validation_data\[1\]: expected integer class labels 0\.\.2",
    ),
    (
        {"validation_data": (X_OK, Y_OK[:10])},
        DataError,
        r"validation_data\[0\] and validation_data\[1\]: expected the same number of rows",
    ),
]


@pytest.mark.parametrize(
    "change, error, match", BAD_FIT_CALLS, ids=[str(i) for i in range(len(BAD_FIT_CALLS))]
)
def test_bad_fit_input_raises_and_changes_nothing(change, error, match):
    trainer = small_trainer()
    trainer.fit(X_OK, Y_OK, epochs=1, batch_size=8, verbose=False)  # momentum state exists
    trainer.model.eval()
    model_before = trainer.model.state_dict()
    opt_before = trainer.optimizer.state_dict()
    dp.seed(123)
    args = {"X": X_OK, "y": Y_OK, "epochs": 2, "batch_size": 8, "verbose": False}
    args.update(change)
    with pytest.raises(error, match=match):
        trainer.fit(args.pop("X"), args.pop("y"), **args)
    for key, value in trainer.model.state_dict().items():
        np.testing.assert_array_equal(value, model_before[key])
    opt_after = trainer.optimizer.state_dict()
    assert opt_after["param_groups"] == opt_before["param_groups"]
    for i, s in opt_before["state"].items():
        np.testing.assert_array_equal(
            opt_after["state"][i]["momentum_buffer"], s["momentum_buffer"]
        )
    assert all(not m.training for m in trainer.model.modules())
    assert backend.rng().random() == np.random.default_rng(123).random()  # no draws


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda t: t.evaluate(_nan_X(), Y_OK), DataError, "X: expected finite values"),
        (lambda t: t.evaluate(X_OK, Y_OK[:5]), DataError, "X and y: expected the same"),
        (lambda t: t.evaluate(X_OK, Y_OK, batch_size=0), ConfigError, "batch_size"),
        (lambda t: t.predict(X_OK[:, :2]), ShapeError, "X: expected 5 features"),
        (lambda t: t.predict(np.zeros((0, 5))), DataError, "X: "),
        (lambda t: t.predict_classes(_inf_X()), DataError, "X: expected finite values"),
    ],
)
def test_bad_evaluate_and_predict_input(call, error, match):
    trainer = small_trainer()
    before = weights(trainer.model)
    with pytest.raises(error, match=match):
        call(trainer)
    assert_same_weights(trainer.model, before)


def test_probe_catches_a_model_that_cannot_take_the_rows():
    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(4, 2)

        def forward(self, x):
            return self.layer(x)

    model = Custom()
    trainer = Trainer(model, nn.CrossEntropyLoss(), SGD(model.parameters(), lr=0.1))
    with pytest.raises(ShapeError, match=r"X: the model cannot take rows of shape \(3,\)"):
        trainer.fit(np.zeros((5, 3)), np.zeros(5, int), verbose=False)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"loss": "hinge"}, r"loss: unknown name 'hinge'"),
        ({"loss": 3}, r"loss: expected a loss Module or name"),
        ({"optimizer": "lbfgs", "lr": 0.1}, r"optimizer: .*expected one of .*'sgd'"),
        ({"optimizer": 0.1}, r"optimizer: expected an Optimizer"),
        ({"metrics": ["accuracy", "auc"]}, r"metrics\[1\]: expected one of \['loss', 'accuracy'"),
        ({"metrics": ["mae"]}, r"mae is a regression metric"),
        ({"task": "regression"}, r"task: 'regression' does not fit CrossEntropyLoss"),
        ({"task": "ranking"}, r"task: expected one of"),
        ({"callbacks": [Callback]}, r"callbacks\[0\]: expected a Callback instance.*parentheses"),
        ({"loss": nn.CrossEntropyLoss(reduction="none")}, r"reduction 'mean' or 'sum'"),
    ],
)
def test_bad_trainer_arguments(kwargs, match):
    model = nn.Sequential(nn.Linear(5, 3))
    args = {"loss": nn.CrossEntropyLoss(), "optimizer": SGD(model.parameters(), lr=0.1)}
    args.update(kwargs)
    with pytest.raises(ConfigError, match=match):
        Trainer(model, **args)


def test_bad_model_and_missing_optimizer():
    with pytest.raises(ConfigError, match="model: expected a deltaprop Module"):
        Trainer(lambda x: x, "cross_entropy", None)
    model = nn.Sequential(nn.Linear(5, 3))
    trainer = Trainer(model, "cross_entropy", None)
    assert trainer.predict(X_OK).shape == (30, 3)
    with pytest.raises(ConfigError, match="optimizer: fit needs an Optimizer"):
        trainer.fit(X_OK, Y_OK)


def test_lists_and_other_dtypes_are_converted_once():
    dp.seed(0)
    model = nn.Sequential(
        nn.Linear(2, 4, dtype="float64"), nn.Tanh(), nn.Linear(4, 2, dtype="float64")
    )
    trainer = Trainer(model, nn.CrossEntropyLoss(), SGD(model.parameters(), lr=0.1))
    history = trainer.fit(XOR_X.tolist(), XOR_Y.tolist(), epochs=2, batch_size=2, verbose=False)
    assert len(history.epoch) == 2
    assert trainer.predict(XOR_X).dtype == np.float64  # float32 input, float64 model
    assert all(p.data.dtype == np.float64 for p in model.parameters())
    labels_as_floats = XOR_Y.astype(np.float64)  # exact integers are accepted
    assert trainer.evaluate(XOR_X, labels_as_floats)["accuracy"] >= 0


def test_optimizer_by_name_and_loss_by_name():
    model = nn.Sequential(nn.Linear(5, 3))
    trainer = Trainer(model, "cross_entropy", "sgd", lr=0.1)
    assert isinstance(trainer.optimizer, SGD)
    assert trainer.optimizer.param_groups[0]["lr"] == 0.1
    assert trainer.task == "classification" and trainer.metrics == ["accuracy"]
    trainer.fit(X_OK, Y_OK, epochs=1, verbose=False)


@pytest.mark.parametrize("name, lr", [("sgd", 0.1), ("Adam", 1e-3), ("nesterov", 0.05)])
def test_an_optimizer_name_without_lr_takes_the_suggested_rate(name, lr):
    model = nn.Sequential(nn.Linear(5, 3))
    trainer = Trainer(model, "cross_entropy", name)
    assert trainer.optimizer.param_groups[0]["lr"] == lr == optim.SUGGESTED_LR[name.lower()]
    trainer.fit(X_OK, Y_OK, epochs=1, verbose=False)


# --- callbacks ---------------------------------------------------------------------------------


class Log(Callback):
    def __init__(self, name, events):
        self.name, self.events = name, events

    def on_train_begin(self, logs=None):
        self.events.append((self.name, "train_begin"))

    def on_train_end(self, logs=None):
        self.events.append((self.name, "train_end", sorted(logs)))

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append((self.name, "epoch_begin", epoch))

    def on_epoch_end(self, epoch, logs=None):
        self.events.append((self.name, "epoch_end", epoch, sorted(logs)))

    def on_batch_begin(self, batch, logs=None):
        self.events.append((self.name, "batch_begin", batch))

    def on_batch_end(self, batch, logs=None):
        self.events.append((self.name, "batch_end", batch, round(logs["loss"], 12)))


def test_callback_hooks_are_called_in_order():
    events = []
    a, b = Log("a", events), Log("b", events)
    X, y = small_data(n=4)
    trainer = small_trainer(callbacks=[a, b])
    assert a.trainer is trainer and a.model is trainer.model
    trainer.fit(X, y, epochs=2, batch_size=3, verbose=False)
    keys = ["accuracy", "epoch_seconds", "loss", "lr"]
    expected = [("a", "train_begin"), ("b", "train_begin")]
    for epoch in range(2):
        expected += [("a", "epoch_begin", epoch), ("b", "epoch_begin", epoch)]
        for batch in range(2):
            expected += [("a", "batch_begin", batch), ("b", "batch_begin", batch)]
            expected += [("a", "batch_end", batch), ("b", "batch_end", batch)]
        expected += [("a", "epoch_end", epoch, keys), ("b", "epoch_end", epoch, keys)]
    expected += [("a", "train_end", keys), ("b", "train_end", keys)]
    got = [e[:3] if e[1] == "batch_end" else e for e in events]
    assert got == expected
    batch_losses = [e[3] for e in events if e[0] == "a" and e[1] == "batch_end"]
    assert all(math.isfinite(v) for v in batch_losses)


def test_stop_training_ends_fit_after_the_epoch_and_prints_it(capsys):
    class StopAt(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                self.trainer.stop_training = True

    X, y = small_data()
    trainer = small_trainer(callbacks=[StopAt()])
    history = trainer.fit(X, y, epochs=10, log_every=5)
    assert history.epoch == [0, 1, 2]
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[1] for line in lines] == ["3/10"]
    # the flag is reset by the next fit
    trainer.callbacks = type(trainer.callbacks)([], trainer=trainer)
    assert len(trainer.fit(X, y, epochs=2, verbose=False).epoch) == 2


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_train_end_sees_the_error_when_training_fails():
    events = []
    X, y = small_data(n=20)
    trainer = small_trainer(callbacks=[Log("a", events)])
    trainer.optimizer.param_groups[0]["lr"] = 1e30
    with pytest.raises(TrainingError):
        trainer.fit(X, y, epochs=3, batch_size=4, verbose=False)
    assert events[-1][:2] == ("a", "train_end") and "error" in events[-1][2]
