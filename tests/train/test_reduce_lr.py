"""ReduceLROnPlateau: PyTorch's values on scripted metric sequences, inside fit, state, errors."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn
from deltaprop.errors import ConfigError
from deltaprop.optim import SGD
from deltaprop.train import Callback, Trainer
from deltaprop.train.callbacks import ReduceLROnPlateau

# Plateaus, tiny relative improvements (below and above the 1e-4 threshold), rises and drops.
METRIC = [
    1.0, 0.9, 0.9, 0.9, 0.89995, 0.9, 0.85, 0.85, 0.8499, 0.86, 0.87, 0.84, 0.84, 0.84, 0.84,
    0.5, 0.5, 0.6, 0.49999, 0.5, 0.5, 0.5, 0.5, 0.7, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2,
]  # fmt: skip


def make_trainer(callbacks=(), lrs=(0.1,)):
    dp.seed(0)
    model = nn.Linear(3, 2)
    params = model.parameters()
    groups = [{"params": [p], "lr": lr} for p, lr in zip(params, lrs)] if len(lrs) > 1 else params
    opt = SGD(groups, lr=lrs[0])
    return Trainer(model, nn.CrossEntropyLoss(), opt, callbacks=list(callbacks))


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"patience": 2},
        {"patience": 1, "cooldown": 2},
        {"patience": 0, "factor": 0.5, "min_lr": 0.02},
        {"patience": 1, "threshold_mode": "abs", "min_delta": 0.01},
        {"patience": 2, "mode": "max"},
        {"patience": 1, "mode": "max", "threshold_mode": "abs", "min_delta": 0.05, "cooldown": 1},
        {"patience": 0, "factor": 0.3, "min_lr": [0.05, 0.0], "eps": 1e-3},
    ],
)
def test_matches_torch_reduce_lr_on_plateau(kwargs):
    torch = pytest.importorskip("torch")
    lrs = (0.1, 0.2) if isinstance(kwargs.get("min_lr"), list) else (0.1,)
    ours = ReduceLROnPlateau(verbose=False, **{"patience": 10, **kwargs})
    trainer = make_trainer([ours], lrs=lrs)
    ours.on_train_begin({})
    names = {"min_delta": "threshold"}
    t_kwargs = {names.get(k, k): v for k, v in kwargs.items()}
    t_params = [{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in lrs]
    t_opt = torch.optim.SGD(t_params, lr=lrs[0])
    t_sched = torch.optim.lr_scheduler.ReduceLROnPlateau(t_opt, **t_kwargs)
    values = METRIC if kwargs.get("mode") != "max" else [2.0 - v for v in METRIC]
    changes = 0
    for epoch, value in enumerate(values):
        before = [g["lr"] for g in trainer.optimizer.param_groups]
        t_sched.step(value)
        ours.on_epoch_end(epoch, {"val_loss": value})
        got = [g["lr"] for g in trainer.optimizer.param_groups]
        assert got == [g["lr"] for g in t_opt.param_groups], epoch  # bit for bit
        assert ours.num_bad_epochs == t_sched.num_bad_epochs
        assert ours.cooldown_counter == t_sched.cooldown_counter
        assert ours.best == t_sched.best
        changes += got != before
    assert changes >= 1 or not kwargs  # torch's default patience of 10 never runs out here


def test_inside_fit_the_lower_rate_shows_in_the_next_epoch(capsys):
    class Script(Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = [1.0, 1.0, 1.0, 0.5, 0.5, 0.5][epoch]

    plateau = ReduceLROnPlateau(patience=1, factor=0.5)
    trainer = make_trainer([Script(), plateau])
    X = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    history = trainer.fit(X, y, epochs=6, verbose=False)
    assert history.history["lr"] == [0.1, 0.1, 0.1, 0.05, 0.05, 0.05]
    assert trainer.optimizer.param_groups[0]["lr"] == 0.025
    assert capsys.readouterr().out.splitlines() == [
        "ReduceLROnPlateau: epoch 3: val_loss did not improve for 2 epochs; lr 0.1 -> 0.05",
        "ReduceLROnPlateau: epoch 6: val_loss did not improve for 2 epochs; lr 0.05 -> 0.025",
    ]


def test_state_dict_round_trip_carries_the_counters_into_the_next_fit():
    plateau = ReduceLROnPlateau(patience=3, verbose=False)
    trainer = make_trainer([plateau])
    plateau.on_train_begin({})
    for epoch, value in enumerate([1.0, 1.0, 1.0]):
        plateau.on_epoch_end(epoch, {"val_loss": value})
    state = plateau.state_dict()
    assert state == {"best": 1.0, "num_bad_epochs": 2, "cooldown_counter": 0, "last_epoch": 3}
    resumed = ReduceLROnPlateau(patience=3, verbose=False)
    resumed.set_trainer(trainer)
    resumed.load_state_dict(state)
    resumed.on_train_begin({})  # a resumed fit keeps the counters
    resumed.on_epoch_end(0, {"val_loss": 1.0})
    resumed.on_epoch_end(1, {"val_loss": 1.0})
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.01)
    with pytest.raises(ConfigError, match="state_dict: expected the keys"):
        resumed.load_state_dict({})


def test_missing_monitor_and_bad_arguments():
    X = np.zeros((4, 3), dtype=np.float32)
    y = np.array([0, 1, 0, 1])
    trainer = make_trainer([ReduceLROnPlateau(monitor="val_accuracy", mode="max")])
    with pytest.raises(ConfigError, match=r"'val_accuracy', which is not in the logs; available"):
        trainer.fit(X, y, epochs=1, verbose=False)
    for kwargs, match in [
        ({"factor": 1.0}, r"factor: expected a fraction in \(0, 1\)"),
        ({"patience": -1}, "patience: expected an integer >= 0"),
        ({"cooldown": "2"}, "cooldown: expected an integer"),
        ({"min_lr": -1.0}, "min_lr: expected a number >= 0"),
        ({"min_lr": [0.1, "x"]}, r"min_lr\[1\]: expected a number"),
        (
            {"threshold_mode": "relative"},
            r"threshold_mode: unknown name 'relative'; expected one of \('rel', 'abs'\)",
        ),
        ({"mode": "down"}, r"mode: unknown name 'down'; expected one of"),
    ]:
        with pytest.raises(ConfigError, match=match):
            ReduceLROnPlateau(**kwargs)
    plateau = ReduceLROnPlateau(patience=0, min_lr=[0.0, 0.0], verbose=False)
    make_trainer([plateau])
    plateau.on_epoch_end(0, {"val_loss": 1.0})
    with pytest.raises(
        ConfigError, match=r"min_lr: expected 1 value\(s\), one per parameter group"
    ):
        plateau.on_epoch_end(1, {"val_loss": 1.0})
