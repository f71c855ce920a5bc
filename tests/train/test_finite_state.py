"""No non-finite state is kept or written, and divergence is detected (issue 9, item 4).

The NaN guard checks parameters, buffers (batch norm's running statistics) and the optimizer's
state after every epoch, before callbacks and checkpoints see it, and rolls all three back
together; a loss that grows by orders of magnitude is an error too; the checkpoint Writer and
ModelCheckpoint never write a state holding NaN/Inf.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import cli, nn
from deltaprop.errors import ConfigError, TrainingError
from deltaprop.optim import SGD, Adam
from deltaprop.report import DeltapropWarning
from deltaprop.train import Callback, Trainer
from deltaprop.train import state as train_state
from deltaprop.train.callbacks import (
    EarlyStopping,
    LearningRateScheduler,
    ModelCheckpoint,
    TerminateOnNaN,
)
from deltaprop.train.callbacks import nan_guard as nan_guard_module

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's overflow notes


def data(n=12, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 1).astype(np.int64)
    return X, y


def bn_model(d=5, hidden=8, k=3, seed=0):
    dp.seed(seed)
    return nn.Sequential(
        nn.Linear(d, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, k)
    )


def finite(model):
    return all(np.isfinite(v).all() for v in model.state_dict().values())


def same_state(model, state):
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, state[k], err_msg=k)


class Poison(SGD):
    """SGD that writes inf into ``target`` (a parameter or a buffer) after its ``at``-th step."""

    def __init__(self, params, target, at, **kwargs):
        super().__init__(params, **kwargs)
        self.target, self.at, self.calls = target, at, 0

    def step(self):
        super().step()
        self.calls += 1
        if self.calls == self.at:
            self.target.data[0] = np.inf


def optimizer_state(optimizer):
    return [
        {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in optimizer.state[p].items()}
        if p in optimizer.state
        else None
        for p in optimizer.params
    ]


def same_optimizer_state(optimizer, saved):
    now = optimizer_state(optimizer)
    assert [None if s is None else sorted(s) for s in now] == [
        None if s is None else sorted(s) for s in saved
    ]
    for a, b in zip(now, saved, strict=True):
        for k in a or {}:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


class EpochStarts(Callback):
    """The model's and the optimizer's state at the start of every epoch."""

    def __init__(self):
        self.models, self.optimizer = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.models.append(self.model.state_dict())
        self.optimizer.append(optimizer_state(self.trainer.optimizer))


# --- buffers and optimizer state are guarded like weights -------------------------------------


@pytest.mark.parametrize(
    "where, message",
    [
        ("buffer", r"buffers became NaN/Inf during epoch 2 \(buffer '1\.running_var'"),
        ("weight", r"weights became NaN/Inf during epoch 2 \(parameter '3\.bias'"),
    ],
)
def test_non_finite_state_rolls_back_weights_buffers_and_optimizer_state(where, message):
    model = bn_model()
    target = model[1].running_var if where == "buffer" else model[3].bias
    # 3 steps per epoch: the last step of epoch 2 spoils the state, its loss was finite
    opt = Poison(model.parameters(), target, at=6, lr=0.05, momentum=0.9)
    starts = EpochStarts()
    trainer = Trainer(model, "cross_entropy", opt, callbacks=[starts])
    with pytest.raises(TrainingError, match=message):
        trainer.fit(*data(), epochs=4, batch_size=4, verbose=False)
    assert len(starts.models) == 2
    same_state(model, starts.models[1])  # weights and buffers of epoch 2's start
    same_optimizer_state(opt, starts.optimizer[1])  # the optimizer goes back with them
    assert any(s is not None for s in starts.optimizer[1])  # momentum buffers to compare
    assert finite(model)


def test_terminate_on_nan_stops_on_a_non_finite_buffer_and_leaves_the_model_finite():
    model = bn_model()
    opt = Poison(model.parameters(), model[1].running_mean, at=6, lr=0.05)
    trainer = Trainer(model, "cross_entropy", opt, callbacks=[TerminateOnNaN(verbose=False)])
    history = trainer.fit(*data(), epochs=4, batch_size=4, verbose=False)
    assert len(history.epoch) == 1
    assert "buffer '1.running_mean'" in trainer.stop_reason
    assert isinstance(trainer.nan_error, TrainingError)
    assert finite(model)


def test_a_nan_loss_after_a_spoilt_buffer_restores_the_buffers_too():
    model = bn_model()
    # the weight turns the next forward's output into NaN: that step is refused, but its
    # forward pass already wrote NaN into the running statistics
    opt = Poison(model.parameters(), model[0].weight, at=4, lr=0.05)
    starts = EpochStarts()
    trainer = Trainer(model, "cross_entropy", opt, callbacks=[starts])
    with pytest.raises(TrainingError, match=r"loss became NaN at epoch 2, step 2 .*buffer"):
        trainer.fit(*data(), epochs=3, batch_size=4, verbose=False)
    same_state(model, starts.models[1])
    assert finite(model)


def test_a_model_that_is_not_finite_is_refused_before_training():
    model = bn_model()
    model[1].running_var.data[2] = np.nan
    before = model.state_dict()
    trainer = Trainer(model, "cross_entropy", "sgd")
    with pytest.raises(TrainingError, match=r"buffer '1\.running_var' is NaN/Inf before training"):
        trainer.fit(*data(), epochs=2, batch_size=4, verbose=False)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_batchnorm_at_a_high_learning_rate_stops_finite_and_writes_no_inf(tmp_path):
    """The issue's case: at lr 1000 the running variance overflows while the loss and the
    weights stay finite; training used to "succeed" and save inf everywhere."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((256, 16)).astype(np.float32)
    y = (X[:, :4].sum(1) > 0).astype(np.int64) + (X[:, 4] > 1)
    dp.seed(0)
    model = nn.Sequential(
        nn.Linear(16, 64), nn.BatchNorm1d(64), nn.ReLU(),
        nn.Linear(64, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 3),
    )  # fmt: skip
    saver = ModelCheckpoint(tmp_path / "m-{epoch}.safetensors", save_best_only=False)
    trainer = Trainer(model, "cross_entropy", "sgd", lr=1000.0, callbacks=[saver])
    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(TrainingError, match=r"buffer '4\.running_var'"):
        trainer.fit(X, y, epochs=10, batch_size=32, checkpoint=ckpt, verbose=False)
    assert finite(model)
    if ckpt.exists():
        state = train_state.read(str(ckpt))
        assert all(np.isfinite(t).all() for t in state.tensors.values() if t.dtype.kind == "f")
    for path in saver.saved:
        assert finite(dp.load(path))
    dp.save(model, tmp_path / "after.safetensors")
    loaded = dp.load(tmp_path / "after.safetensors")
    assert finite(loaded)
    probs = Trainer(loaded, "cross_entropy", None).predict(X)
    assert np.isfinite(probs).all()


def test_batchnorm_run_stopped_by_terminate_on_nan_keeps_finite_buffers():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((256, 16)).astype(np.float32)
    y = (X[:, :4].sum(1) > 0).astype(np.int64)
    dp.seed(0)
    model = nn.Sequential(
        nn.Linear(16, 64), nn.BatchNorm1d(64), nn.ReLU(),
        nn.Linear(64, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 2),
    )  # fmt: skip
    trainer = Trainer(
        model, "cross_entropy", "sgd", lr=1000.0, callbacks=[TerminateOnNaN(verbose=False)]
    )
    trainer.fit(X, y, epochs=10, batch_size=32, verbose=False)
    assert trainer.nan_error is not None and "running_var" in trainer.stop_reason
    assert finite(model)


# --- the guard runs before checkpoints; they refuse a non-finite state anyway -----------------


def test_the_guard_runs_before_model_checkpoint_and_the_checkpoint_writer(tmp_path):
    model = bn_model()
    opt = Poison(model.parameters(), model[1].running_var, at=6, lr=0.05)
    saver = ModelCheckpoint(tmp_path / "m-{epoch}.safetensors", save_best_only=False)
    trainer = Trainer(model, "cross_entropy", opt, callbacks=[saver])
    ckpt = tmp_path / "run.ckpt"
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeltapropWarning)  # neither had to refuse anything
        with pytest.raises(TrainingError, match="buffers became NaN/Inf during epoch 2"):
            trainer.fit(*data(), epochs=4, batch_size=4, checkpoint=ckpt, verbose=False)
    assert saver.saved == [str(tmp_path / "m-1.safetensors")]
    state = train_state.read(str(ckpt))
    assert state.epoch == 1
    assert all(np.isfinite(t).all() for t in state.tensors.values() if t.dtype.kind == "f")


class SpoilAt(Callback):
    """A callback (listed before the savers) that writes inf into a buffer after an epoch."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            self.model[1].running_var.data[0] = np.inf


class Snapshots(Callback):
    def __init__(self):
        self.states = []

    def on_epoch_end(self, epoch, logs=None):
        self.states.append(self.model.state_dict())


def test_model_checkpoint_and_the_writer_refuse_a_non_finite_model(tmp_path):
    snaps = Snapshots()
    path = tmp_path / "best.safetensors"
    saver = ModelCheckpoint(path, monitor="loss", save_best_only=False)
    trainer = Trainer(bn_model(), "cross_entropy", "sgd", callbacks=[snaps, SpoilAt(1), saver])
    ckpt = tmp_path / "run.ckpt"
    with pytest.warns(DeltapropWarning) as record:
        trainer.fit(*data(), epochs=2, batch_size=4, checkpoint=ckpt, verbose=False)
    messages = [str(w.message) for w in record]
    assert any(
        m.startswith("ModelCheckpoint: epoch 2: not saved: buffer '1.running_var' is NaN/Inf")
        and "keeps the model saved before" in m
        for m in messages
    )
    assert any(
        m.startswith("checkpoint: the state after epoch 2 was not saved: buffer '1.running_var'")
        and "keeps the state after epoch 1" in m
        for m in messages
    )
    assert saver.saved == [str(path)]
    same_state(dp.load(path), snaps.states[0])
    assert train_state.read(str(ckpt)).epoch == 1


def test_the_guard_rolls_back_past_a_callback_that_spoilt_the_model():
    # the state after epoch 2 passed the check; a callback spoils it afterwards: the next
    # epoch's check rolls back to the state that passed, not to the spoilt one
    snaps = Snapshots()
    model = bn_model()
    trainer = Trainer(model, "cross_entropy", "sgd", callbacks=[snaps, SpoilAt(1)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeltapropWarning)
        with pytest.raises(TrainingError, match="running_var"):
            trainer.fit(*data(), epochs=3, batch_size=4, verbose=False)
    same_state(model, snaps.states[1])
    assert finite(model)


def test_early_stopping_restores_the_buffers_of_the_best_epoch():
    class Script(Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = [1.0, 0.5, 0.7, 0.8][epoch]

    snaps = Snapshots()
    model = bn_model()
    es = EarlyStopping(patience=5, verbose=False)
    trainer = Trainer(model, "cross_entropy", "sgd", callbacks=[Script(), snaps, es])
    trainer.fit(*data(), epochs=4, batch_size=4, verbose=False)
    assert not np.array_equal(snaps.states[1]["1.running_var"], snaps.states[3]["1.running_var"])
    same_state(model, snaps.states[1])


# --- divergence ----------------------------------------------------------------------------------


def blobs(n=200, d=8, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = (X[:, :3].sum(1) > 0).astype(np.int64) + (X[:, 3] > 0.5)
    return X, y


def mlp(d=8, k=3, seed=0):
    dp.seed(seed)
    return nn.Sequential(
        nn.Linear(d, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, k)
    )


def test_adam_at_lr_1000_is_reported_as_diverged_and_rolled_back():
    model = mlp()
    start = model.state_dict()
    opt = Adam(model.parameters(), lr=1000.0)
    trainer = Trainer(model, "cross_entropy", opt)
    with pytest.raises(TrainingError) as info:
        trainer.fit(*blobs(), epochs=30, batch_size=32, verbose=False)
    message = str(info.value)
    assert message.startswith("loss diverged in epoch 1: its mean ")
    assert "more than 1000 times the loss" in message and "lr 1000.0" in message
    assert "smaller learning rate or gradient clipping" in message
    same_state(model, start)  # the state from the start of epoch 1
    assert opt.state == {}  # as Adam was then: no moments yet


def test_divergence_in_a_later_epoch_keeps_the_last_good_epoch_and_can_stop_instead():
    def lr_for(epoch, lr):
        return 1e-3 if epoch < 2 else 1000.0  # fine for two epochs, then blown up

    starts = EpochStarts()
    model = mlp()
    callbacks = [starts, LearningRateScheduler(lr_for), TerminateOnNaN(verbose=False)]
    trainer = Trainer(model, "cross_entropy", Adam(model.parameters()), callbacks=callbacks)
    history = trainer.fit(*blobs(), epochs=6, batch_size=32, verbose=False)
    assert len(history.epoch) == 2  # the diverged epoch is not recorded
    assert "loss diverged in epoch 3" in trainer.stop_reason and "lr 1000.0" in trainer.stop_reason
    same_state(model, starts.models[2])
    same_optimizer_state(trainer.optimizer, starts.optimizer[2])


def test_divergence_factor_sets_and_turns_off_the_check():
    for factor in (None, 1e30):
        trainer = Trainer(mlp(), "cross_entropy", "adam", lr=1000.0, divergence_factor=factor)
        history = trainer.fit(*blobs(), epochs=2, batch_size=32, verbose=False)
        assert len(history.epoch) == 2
    trainer = Trainer(mlp(), "cross_entropy", "adam", lr=1.0, divergence_factor=1.5)
    with pytest.raises(TrainingError, match="more than 1.5 times"):
        trainer.fit(*blobs(), epochs=5, batch_size=32, verbose=False)


@pytest.mark.parametrize(
    "value, expected",
    [
        (1, r"divergence_factor: expected a finite number > 1, got 1"),
        (0.5, r"divergence_factor: expected a finite number > 1, got 0\.5"),
        (math.inf, r"divergence_factor: expected a finite number > 1, got inf"),
        (math.nan, r"divergence_factor: expected a finite number > 1, got nan"),
        ("1e3", r"divergence_factor: expected a finite number > 1, got '1e3'"),
        (True, r"divergence_factor: expected a finite number > 1, got True"),
    ],
)
def test_divergence_factor_is_checked(value, expected):
    with pytest.raises(ConfigError, match=expected):
        Trainer(mlp(), "cross_entropy", "sgd", divergence_factor=value)


def test_the_start_loss_is_the_larger_of_the_models_and_that_of_zero_outputs():
    X, y = blobs()  # 200 rows: all are probed
    trainer = Trainer(mlp(), "cross_entropy", "adam", lr=0.01)
    Xp, yp = trainer._prepare(X, y, "X", "y")
    value, what = nan_guard_module.start_loss(trainer, Xp, yp)
    own = trainer.evaluate(X, y)["loss"]
    assert value == pytest.approx(max(own, math.log(3)), rel=1e-5)
    # a trained model starts near zero: the floor is the loss of zero outputs, log(3), so
    # training that carries on does not call ordinary noise growth by orders of magnitude
    trainer.fit(X, y, epochs=40, batch_size=16, verbose=False)
    assert trainer.evaluate(X, y)["loss"] < 0.2
    value, what = nan_guard_module.start_loss(trainer, Xp, yp)
    assert what == "the loss of zero outputs" and value == pytest.approx(math.log(3), rel=1e-5)
    # regression, rows spread evenly over the set: zero outputs cost mean(y^2)
    rng = np.random.default_rng(1)
    Xr = rng.standard_normal((1000, 4)).astype(np.float32)
    yr = np.sort(100.0 * Xr[:, 0]).astype(np.float32)  # sorted: the first rows are no sample
    dp.seed(0)
    reg = Trainer(nn.Sequential(nn.Linear(4, 1)), "mse", "sgd")
    Xq, yq = reg._prepare(Xr, yr, "X", "y")
    value, what = nan_guard_module.start_loss(reg, Xq, yq)
    rows = np.arange(0, 1000, 1000 // 256)[:256]
    zero = float(np.mean(yr[rows].astype(np.float64) ** 2))
    own = reg.evaluate(Xr[rows], yr[rows])["loss"]
    assert value == pytest.approx(max(zero, own), rel=1e-4) and value > 5000


def _worst_ratio(monkeypatch):
    ratios = []
    original = nan_guard_module.NanGuard.epoch_end

    def spy(self, epoch, loss):
        ratios.append(loss / self.reference[0])
        return original(self, epoch, loss)

    monkeypatch.setattr(nan_guard_module.NanGuard, "epoch_end", spy)
    return ratios


@pytest.mark.parametrize(
    "flags",
    [
        [],  # the default CLI run: SGD, digits, 30 epochs
        ["--optimizer", "adam", "--epochs", "10"],  # Adam's defaults
        ["--descent", "stochastic", "--epochs", "5"],  # noisy: SGD on one row per step
    ],
)
@pytest.mark.slow
def test_normal_cli_runs_stay_far_from_the_divergence_threshold(flags, monkeypatch, capsys):
    ratios = _worst_ratio(monkeypatch)
    assert cli.main(["train", "--quiet", "--seed", "1", *flags]) == 0
    # measured over these and 20 more settings and data sets: at most 1.7
    assert ratios and max(ratios) < 10


def test_noisy_batch_one_sgd_stays_far_from_the_divergence_threshold(monkeypatch):
    ratios = _worst_ratio(monkeypatch)
    X, y = blobs(n=300)
    trainer = Trainer(mlp(), "cross_entropy", "sgd", lr=0.05)
    trainer.fit(X, y, epochs=5, descent="stochastic", verbose=False)
    assert max(ratios) < 10


@pytest.mark.slow  # loads digits
def test_the_cli_reports_divergence_as_a_clean_error(capsys):
    code = cli.main(["train", "--optimizer", "adam", "--lr", "1000", "--epochs", "3", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("deltaprop: error: loss diverged in epoch 1: ")
    assert "Traceback" not in err
