"""ModelCheckpoint, CSVLogger, LearningRateScheduler, TerminateOnNaN and ProgressBar."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn
from deltaprop.errors import ConfigError, TrainingError
from deltaprop.optim import SGD
from deltaprop.train import Callback, Trainer
from deltaprop.train import loop as loop_module
from deltaprop.train.callbacks import (
    CSVLogger,
    EarlyStopping,
    LearningRateScheduler,
    ModelCheckpoint,
    ProgressBar,
    TerminateOnNaN,
)


class Script(Callback):
    def __init__(self, key, values):
        self.key, self.values = key, list(values)

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


class Snapshots(Callback):
    def __init__(self):
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.state_dict())


def make_trainer(callbacks, model=None, lr=0.1):
    dp.seed(0)
    model = model if model is not None else nn.Linear(3, 2)
    return Trainer(
        model, nn.CrossEntropyLoss(), SGD(model.parameters(), lr=lr), callbacks=callbacks
    )


def same(model, state):
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, state[k], err_msg=k)


# --- ModelCheckpoint -----------------------------------------------------------------------------


def test_checkpoint_best_only_writes_each_improvement_and_files_load(tmp_path, toy):
    snaps = Snapshots()
    ckpt = ModelCheckpoint(tmp_path / "m-{epoch}.safetensors")
    trainer = make_trainer([Script("val_loss", [1.0, 0.8, 0.9, 0.7, 0.75]), snaps, ckpt])
    trainer.fit(*toy(), epochs=5, batch_size=8, verbose=False)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["m-1.safetensors", "m-2.safetensors", "m-4.safetensors"]
    assert ckpt.saved == [str(tmp_path / f"m-{e}.safetensors") for e in (1, 2, 4)]
    assert ckpt.best == 0.7 and ckpt.best_path == ckpt.saved[-1]
    for epoch in (1, 2, 4):
        model, meta = dp.load(tmp_path / f"m-{epoch}.safetensors", return_metadata=True)
        same(model, snaps.weights[epoch - 1])
        assert (
            meta["epoch"] == epoch and meta["logs"]["val_loss"] == [1.0, 0.8, 0.9, 0.7][epoch - 1]
        )


def test_checkpoint_one_path_keeps_the_best_model(tmp_path, toy):
    snaps = Snapshots()
    ckpt = ModelCheckpoint(str(tmp_path / "sub" / "best.safetensors"), monitor="val_accuracy")
    trainer = make_trainer([Script("val_accuracy", [0.5, 0.9, 0.7]), snaps, ckpt])
    trainer.fit(*toy(), epochs=3, batch_size=8, verbose=False)
    same(dp.load(tmp_path / "sub" / "best.safetensors"), snaps.weights[1])


def test_checkpoint_every_n_epochs_without_a_monitor(tmp_path, toy):
    snaps = Snapshots()
    ckpt = ModelCheckpoint(
        tmp_path / "e{epoch:02d}-{loss:.3f}.safetensors", save_best_only=False, every_n_epochs=2
    )
    trainer = make_trainer([snaps, ckpt])
    history = trainer.fit(*toy(), epochs=5, batch_size=8, verbose=False)  # no val_loss: fine
    losses = history.history["loss"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"e02-{losses[1]:.3f}.safetensors",
        f"e04-{losses[3]:.3f}.safetensors",
    ]
    same(dp.load(ckpt.saved[1]), snaps.weights[3])


def test_checkpoint_errors(tmp_path, toy):
    trainer = make_trainer([ModelCheckpoint(tmp_path / "m.safetensors")])
    with pytest.raises(ConfigError, match=r"monitor: ModelCheckpoint watches 'val_loss'"):
        trainer.fit(*toy(), epochs=1, verbose=False)
    trainer = make_trainer([ModelCheckpoint(tmp_path / "{nope}.safetensors", save_best_only=False)])
    with pytest.raises(ConfigError, match=r"path: cannot fill in .*fields available are \['epoch'"):
        trainer.fit(*toy(), epochs=1, verbose=False)
    with pytest.raises(ConfigError, match="every_n_epochs: expected an integer >= 1"):
        ModelCheckpoint("m.safetensors", every_n_epochs=0)
    with pytest.raises(ConfigError, match="path: expected a file path"):
        ModelCheckpoint(3)


# --- CSVLogger -----------------------------------------------------------------------------------


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_csv_logger_writes_one_row_per_epoch_with_the_logs_as_columns(tmp_path, toy):
    path = tmp_path / "log.csv"
    logger = CSVLogger(path)
    trainer = make_trainer([logger])
    history = trainer.fit(*toy(), epochs=3, validation_data=toy(n=8, seed=1), verbose=False)
    rows = read_csv(path)
    header = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "epoch_seconds"]
    assert rows[0] == header and len(rows) == 4
    for epoch, row in enumerate(rows[1:]):
        assert row[0] == str(epoch + 1)
        for key, cell in zip(header[1:], row[1:], strict=True):
            assert float(cell) == history.history[key][epoch]  # every digit kept
    assert logger._file is None  # closed

    trainer.fit(*toy(), epochs=2, validation_data=toy(n=8, seed=1), verbose=False)
    assert len(read_csv(path)) == 3  # append=False: replaced


def test_csv_logger_append_keeps_one_header(tmp_path, toy):
    path = tmp_path / "log.csv"
    trainer = make_trainer([CSVLogger(path, append=True, separator=";")])
    trainer.fit(*toy(), epochs=2, verbose=False)
    trainer.fit(*toy(), epochs=3, verbose=False)
    with open(path) as f:
        rows = list(csv.reader(f, delimiter=";"))
    assert rows[0] == ["epoch", "loss", "accuracy", "lr", "epoch_seconds"]
    assert [r[0] for r in rows[1:]] == ["1", "2", "1", "2", "3"]


def test_csv_logger_closes_its_file_when_training_fails(tmp_path, toy):
    logger = CSVLogger(tmp_path / "log.csv")
    trainer = make_trainer([logger], model=Poisoned(nn.Linear(3, 2), at_call=3))
    with pytest.raises(TrainingError):
        trainer.fit(*toy(), epochs=3, batch_size=8, verbose=False)
    assert logger._file is None and len(read_csv(tmp_path / "log.csv")) == 2


# --- LearningRateScheduler -----------------------------------------------------------------------


def test_learning_rate_scheduler_sets_the_rate_at_each_epoch_start(toy):
    seen = []

    class Rates(Callback):
        def on_batch_begin(self, batch, logs=None):
            seen.append(self.trainer.optimizer.param_groups[0]["lr"])

    sched = LearningRateScheduler(lambda epoch, lr: 0.1 * 0.5**epoch)
    trainer = make_trainer([sched, Rates()])
    history = trainer.fit(*toy(), epochs=3, batch_size=8, verbose=False)
    assert history.history["lr"] == [0.1, 0.05, 0.025]
    assert seen == [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]

    trainer = make_trainer([LearningRateScheduler(lambda epoch, lr: lr * 0.9)], lr=1.0)
    history = trainer.fit(*toy(), epochs=3, verbose=False)
    assert history.history["lr"] == pytest.approx([0.9, 0.81, 0.729])


def test_learning_rate_scheduler_errors(toy):
    with pytest.raises(ConfigError, match="schedule: expected a function"):
        LearningRateScheduler(0.1)
    trainer = make_trainer([LearningRateScheduler(lambda epoch, lr: None)])
    with pytest.raises(ConfigError, match="schedule: expected a finite learning rate >= 0"):
        trainer.fit(*toy(), epochs=1, verbose=False)
    assert trainer.optimizer.param_groups[0]["lr"] == 0.1


# --- TerminateOnNaN ------------------------------------------------------------------------------


class Poisoned(nn.Module):
    """The inner model, whose output turns NaN on the ``at_call``-th training forward pass."""

    def __init__(self, inner, at_call):
        super().__init__()
        self.inner, self.at_call, self.calls = inner, at_call, 0

    def forward(self, x):
        out = self.inner(x)
        if self.training:
            self.calls += 1
            if self.calls == self.at_call:
                return out * float("nan")
        return out


def test_terminate_on_nan_stops_cleanly_with_a_message(capsys, toy):
    model = Poisoned(nn.Linear(3, 2), at_call=6)  # epoch 3, step 2 at 2 steps per epoch
    before = []

    class Snap(Callback):
        def on_batch_begin(self, batch, logs=None):
            before.append(self.model.state_dict())

    trainer = make_trainer([Snap(), TerminateOnNaN()], model=model)
    history = trainer.fit(*toy(), epochs=5, batch_size=8, verbose=False)
    assert len(history.epoch) == 2  # the unfinished third epoch is not recorded
    assert isinstance(trainer.nan_error, TrainingError)
    assert trainer.stop_reason.startswith("loss became NaN at epoch 3, step 2")
    assert capsys.readouterr().out == f"TerminateOnNaN: {trainer.stop_reason}\n"
    same(model, before[-1])  # the weights from before the bad step
    assert trainer.stop_on_nan is False  # the flag is only up while the callback runs

    model.calls = 0
    trainer.callbacks = type(trainer.callbacks)([], trainer=trainer)
    with pytest.raises(TrainingError, match="loss became NaN at epoch 3, step 2"):
        trainer.fit(*toy(), epochs=5, batch_size=8, verbose=False)


def test_terminate_on_nan_lets_early_stopping_restore_its_best(toy):
    model = Poisoned(nn.Linear(3, 2), at_call=7)
    snaps = Snapshots()
    es = EarlyStopping(patience=5, verbose=False)
    callbacks = [Script("val_loss", [1.0, 0.5, 0.7]), snaps, es, TerminateOnNaN(verbose=False)]
    trainer = make_trainer(callbacks, model=model)
    history = trainer.fit(*toy(), epochs=5, batch_size=8, verbose=False)
    assert len(history.epoch) == 3
    same(model, snaps.weights[1])


def test_terminate_on_nan_also_stops_on_non_finite_weights(toy):
    class Poison(SGD):
        def step(self):
            super().step()
            self.calls = getattr(self, "calls", 0) + 1
            if self.calls == 4:  # the last step of epoch 2: its loss was finite
                self.param_groups[0]["params"][0].data[0, 0] = np.inf

    starts = []

    class Snap(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            starts.append(self.model.state_dict())

    model = nn.Linear(3, 2)
    trainer = Trainer(
        model, "cross_entropy", Poison(model.parameters(), lr=0.1),
        callbacks=[Snap(), TerminateOnNaN(verbose=False)],
    )  # fmt: skip
    history = trainer.fit(*toy(), epochs=4, batch_size=8, verbose=False)
    assert len(history.epoch) == 1
    assert "weights became NaN/Inf during epoch 2" in trainer.stop_reason
    same(model, starts[1])


def test_terminate_on_nan_stops_on_a_non_finite_epoch_loss(toy):
    trainer = make_trainer([Script("loss", [0.5, math.inf, 0.1]), TerminateOnNaN(verbose=False)])
    history = trainer.fit(*toy(), epochs=3, verbose=False)
    assert len(history.epoch) == 2 and "mean loss of epoch 2 is inf" in trainer.stop_reason


# --- ProgressBar ---------------------------------------------------------------------------------


def test_progress_bar_draws_and_replaces_the_automatic_bar(monkeypatch, toy):
    auto = []
    monkeypatch.setattr(loop_module, "is_terminal", lambda: True)
    monkeypatch.setattr(loop_module, "PROGRESS_MIN_BATCHES", 2)
    monkeypatch.setattr(loop_module, "progress", lambda b, *args: auto.append(1) or b)
    out = io.StringIO()
    trainer = make_trainer([ProgressBar(file=out, mininterval=0)])
    trainer.fit(*toy(), epochs=2, batch_size=4, verbose=True)
    text = out.getvalue()
    assert "epoch 1/2" in text and "epoch 2/2" in text and "4/4" in text and "loss=" in text
    assert auto == []
    make_trainer([]).fit(*toy(), epochs=2, batch_size=4, verbose=True)
    assert auto == [1, 1]


def test_callback_list_append_wires_the_trainer(toy):
    seen = []

    class Probe(Callback):
        def on_train_begin(self, logs=None):
            seen.append(self.trainer)

    trainer = make_trainer([])
    probe = Probe()
    trainer.callbacks.append(probe)  # no set_trainer call needed
    assert probe.trainer is trainer and probe.model is trainer.model
    trainer.fit(*toy(), epochs=1, verbose=False)
    assert seen == [trainer]
    with pytest.raises(ConfigError, match=r"callback: expected a Callback instance.*parentheses"):
        trainer.callbacks.append(Probe)
    assert len(trainer.callbacks) == 1


def test_callback_list_listens_only_to_overridden_hooks():
    class EpochOnly(dp.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            pass

    class BatchEnd(dp.callbacks.Callback):
        def __init__(self):
            self.seen = 0

        def on_batch_end(self, batch, logs=None):
            self.seen += 1

    epoch_only = dp.callbacks.CallbackList([EpochOnly()])
    assert not epoch_only.listens("on_batch_begin") and not epoch_only.listens("on_batch_end")
    batch_end = BatchEnd()
    both = dp.callbacks.CallbackList([EpochOnly(), batch_end])
    assert both.listens("on_batch_end") and not both.listens("on_batch_begin")
    X = np.zeros((8, 3), dtype=np.float32)
    y = np.array([0, 1] * 4)
    model = nn.Linear(3, 2)
    trainer = dp.Trainer(
        model,
        loss=nn.CrossEntropyLoss(),
        optimizer=SGD(model.parameters(), lr=0.1),
        callbacks=[EpochOnly(), batch_end],
    )
    trainer.fit(X, y, epochs=2, batch_size=4, verbose=False)
    assert batch_end.seen == 4  # 2 batches x 2 epochs: a listening callback still gets every call
