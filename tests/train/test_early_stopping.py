"""EarlyStopping: patience, min_delta, baseline, start_from_epoch, modes, best weights, reason."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn
from deltaprop.errors import ConfigError
from deltaprop.optim import SGD
from deltaprop.train import Callback, Trainer
from deltaprop.train.callbacks import EarlyStopping


class Script(Callback):
    """Overwrites ``logs[key]`` with scripted values; listed before the callback under test."""

    def __init__(self, key, values):
        self.key, self.values = key, list(values)

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


class Snapshots(Callback):
    """The model's weights at the end of every epoch (before any restore at the end)."""

    def __init__(self):
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.state_dict())


def run(toy, values, es, epochs=None, key="val_loss", **fit_kwargs):
    """Fit a tiny model on ``toy()`` for len(values) epochs with scripted ``key`` values;
    returns (trainer, history, snapshots)."""
    dp.seed(0)
    model = nn.Linear(3, 2)
    snaps = Snapshots()
    trainer = Trainer(
        model,
        nn.CrossEntropyLoss(),
        SGD(model.parameters(), lr=0.1),
        callbacks=[Script(key, values), snaps, es],
    )
    X, y = toy()
    epochs = epochs or len(values)
    history = trainer.fit(X, y, epochs=epochs, batch_size=8, verbose=False, **fit_kwargs)
    return trainer, history, snaps


def same(model, state):
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, state[k], err_msg=k)


def test_patience_counts_epochs_without_improvement_and_restores_the_best(toy):
    es = EarlyStopping(patience=2, verbose=False)
    trainer, history, snaps = run(toy, [1.0, 0.9, 0.95, 0.96, 0.5, 0.4], es)
    assert len(history.epoch) == 4 and es.stopped_epoch == 3  # 0.95, 0.96: two bad epochs
    assert es.best == 0.9 and es.best_epoch == 1 and es.wait == 2
    same(trainer.model, snaps.weights[1])
    assert trainer.stop_reason == es.reason()


def test_patience_zero_stops_at_the_first_epoch_without_improvement(toy):
    es = EarlyStopping(patience=0, verbose=False)
    _, history, _ = run(toy, [1.0, 0.8, 0.8, 0.1], es)  # equal is not better
    assert len(history.epoch) == 3 and es.stopped_epoch == 2


def test_min_delta_is_the_smallest_change_that_counts(toy):
    values = [1.0, 0.95, 0.92, 0.91, 0.9]
    es = EarlyStopping(patience=1, min_delta=0.1, verbose=False)
    _, history, _ = run(toy, values, es)
    assert len(history.epoch) == 2 and es.best == 1.0
    es = EarlyStopping(patience=1, min_delta=0.01, verbose=False)
    _, history, _ = run(toy, values, es)
    assert len(history.epoch) == 4 and es.best == 0.92  # 0.91 is not 0.01 better


def test_baseline_must_be_beaten_within_patience(toy):
    es = EarlyStopping(patience=2, baseline=0.5, verbose=False)
    trainer, history, snaps = run(toy, [1.0, 0.9, 0.8, 0.7, 0.6], es)  # improving, never below 0.5
    assert len(history.epoch) == 2 and es.stopped_epoch == 1
    assert "did not beat the baseline 0.5 in 2 epochs" in es.reason()
    same(trainer.model, snaps.weights[1])  # still the best seen

    es = EarlyStopping(patience=2, baseline=0.5, verbose=False)
    _, history, _ = run(toy, [0.6, 0.4, 0.45, 0.46, 0.3, 0.2], es)  # beats it at epoch 1
    assert len(history.epoch) == 4 and es.best == 0.4


def test_start_from_epoch_ignores_the_warm_up_epochs(toy):
    es = EarlyStopping(patience=1, start_from_epoch=3, verbose=False)
    trainer, history, snaps = run(toy, [0.1, 0.2, 0.3, 0.4, 0.35, 0.36, 0.1], es)
    assert len(history.epoch) == 6 and es.best == 0.35 and es.best_epoch == 4
    same(trainer.model, snaps.weights[4])


def test_max_mode_for_accuracy_like_keys(toy):
    es = EarlyStopping(monitor="val_accuracy", patience=1, verbose=False)
    assert es.monitor.mode == "max"
    trainer, history, snaps = run(toy, [0.5, 0.7, 0.6, 0.9], es, key="val_accuracy")
    assert len(history.epoch) == 3 and es.best == 0.7
    same(trainer.model, snaps.weights[1])


@pytest.mark.parametrize(
    "monitor, mode",
    [
        ("val_loss", "min"),
        ("loss", "min"),
        ("val_mae", "min"),
        ("val_accuracy", "max"),
        ("accuracy", "max"),
        ("val_f1_macro", "max"),
        ("r2", "max"),
        ("grad_norm", "min"),
    ],
)
def test_mode_auto_is_inferred_from_the_key(monitor, mode):
    assert EarlyStopping(monitor=monitor).monitor.mode == mode
    flipped = {"min": "max", "max": "min"}[mode]
    assert EarlyStopping(monitor=monitor, mode=flipped).monitor.mode == flipped


def test_restores_the_best_weights_also_at_the_natural_end(capsys, toy):
    es = EarlyStopping(patience=10)
    trainer, history, snaps = run(toy, [1.0, 0.5, 0.7, 0.8], es)
    assert len(history.epoch) == 4 and es.stopped_epoch is None and trainer.stop_reason is None
    same(trainer.model, snaps.weights[1])
    assert (
        capsys.readouterr().out == "EarlyStopping: restored the weights of epoch 2 (val_loss 0.5)\n"
    )

    es = EarlyStopping(patience=10, restore_best_weights=False)
    trainer, _, snaps = run(toy, [1.0, 0.5, 0.7, 0.8], es)
    same(trainer.model, snaps.weights[-1])
    assert es.best_weights is None and capsys.readouterr().out == ""


def test_prints_why_it_stopped(capsys, toy):
    es = EarlyStopping(patience=2, min_delta=0.01)
    run(toy, [1.0, 0.9, 0.95, 0.96, 0.1], es)
    assert capsys.readouterr().out.splitlines() == [
        "EarlyStopping: stopped after epoch 4: val_loss did not improve for 2 epochs "
        "(patience 2, min_delta 0.01); best val_loss 0.9 at epoch 2",
        "EarlyStopping: restored the weights of epoch 2 (val_loss 0.9)",
    ]


def test_resuming_a_finished_run_restores_the_best_weights_without_saying_it_again(
    capsys, toy, tmp_path
):
    path = tmp_path / "run.ckpt"
    values = [1.0, 0.9, 0.95, 0.96, 0.1]
    trainer, history, snaps = run(toy, values, EarlyStopping(patience=2), checkpoint=path)
    said = capsys.readouterr().out
    assert "stopped after epoch 4" in said and "restored the weights of epoch 2" in said
    same(trainer.model, snaps.weights[1])
    with pytest.raises(AssertionError):  # the checkpoint holds the last epoch's weights
        same(trainer.model, snaps.weights[3])

    es = EarlyStopping(patience=2)
    trainer, history, resumed = run(toy, values, es, resume_from=path)
    assert len(history.epoch) == 4 and resumed.weights == []  # nothing more was trained
    same(trainer.model, snaps.weights[1])  # the best weights put back again...
    assert capsys.readouterr().out == ""  # ...without printing the first run's lines again
    assert trainer.stop_reason == es.reason()


def test_a_missing_monitor_key_raises_listing_the_keys(toy):
    dp.seed(0)
    model = nn.Linear(3, 2)
    trainer = Trainer(
        model, "cross_entropy", SGD(model.parameters(), lr=0.1), callbacks=[EarlyStopping()]
    )
    with pytest.raises(ConfigError, match=r"monitor: EarlyStopping watches 'val_loss'") as e:
        trainer.fit(*toy(), epochs=3, verbose=False)
    assert "available keys: ['loss', 'accuracy', 'lr', 'epoch_seconds']" in str(e.value)
    assert "validation_data or validation_split" in str(e.value)


def test_state_dict_round_trip_and_resume_carries_on(toy):
    es = EarlyStopping(patience=3, verbose=False)
    run(toy, [1.0, 1.1], es)
    state = es.state_dict()
    assert state["wait"] == 1 and state["best"] == 1.0 and state["best_epoch"] == 0
    assert set(state["best_weights"]) == {"weight", "bias"}

    resumed = EarlyStopping(patience=3, verbose=False)
    resumed.load_state_dict(state)
    _, history, _ = run(toy, [1.2, 1.3, 1.4, 1.5], resumed)  # waits 2 and 3: stops at once
    assert len(history.epoch) == 2 and resumed.wait == 3

    fresh = EarlyStopping(patience=3, verbose=False)
    _, history, _ = run(toy, [1.2, 1.3, 1.4, 1.5], fresh)
    assert len(history.epoch) == 4

    with pytest.raises(ConfigError, match="state_dict: expected the keys"):
        fresh.load_state_dict({"wait": 0})


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"patience": -1}, "patience: expected an integer >= 0"),
        ({"patience": 1.5}, "patience: expected an integer"),
        ({"mode": "up"}, r"mode: unknown name 'up'; expected one of \('auto', 'min', 'max'\)"),
        ({"monitor": "val_thing"}, "mode: cannot tell whether 'val_thing'"),
        ({"monitor": ""}, "monitor: expected the name"),
        ({"baseline": "low"}, "baseline: expected a number"),
        ({"min_delta": None}, "min_delta: expected a number"),
        ({"start_from_epoch": -2}, "start_from_epoch: expected an integer >= 0"),
        ({"restore_best_weights": 1}, "restore_best_weights: expected True or False"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        EarlyStopping(**kwargs)
