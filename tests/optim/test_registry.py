"""Optimizers and schedules by name: one table each, names through names.lookup, and the one
default learning-rate policy (optim.default_lr)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deltaprop import nn, optim
from deltaprop.errors import ConfigError
from deltaprop.optim import (
    OPTIMIZERS,
    SCHEDULES,
    SGD,
    SUGGESTED_LR,
    Adagrad,
    Adam,
    AdamW,
    CosineAnnealingWarmRestarts,
    RMSprop,
    SequentialLR,
    default_lr,
    get_optimizer,
    get_schedule,
)


def _params():
    return [nn.Parameter(np.zeros(2))]


# --- default_lr ----------------------------------------------------------------------------------


def test_default_lr_is_the_suggested_lr_of_every_name():
    assert set(SUGGESTED_LR) == set(OPTIMIZERS)
    for name, lr in SUGGESTED_LR.items():
        assert default_lr(name) == lr > 0
    assert default_lr("sgd") == 0.1 and default_lr("adam") == 1e-3


def test_default_lr_resolves_names_like_everything_else():
    assert default_lr(" SGD ") == default_lr("sgd")
    assert default_lr("AdamW") == default_lr("adamw")
    with pytest.raises(ConfigError, match=r"optimizer: unknown name 'lbfgs'; expected one of"):
        default_lr("lbfgs")
    with pytest.raises(ConfigError, match=r"optimizer: expected a name, got NoneType"):
        default_lr(None)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_get_optimizer_without_lr_uses_default_lr(name):
    opt = get_optimizer(name, _params())
    assert opt.param_groups[0]["lr"] == default_lr(name)
    assert get_optimizer(name, _params(), lr=0.25).param_groups[0]["lr"] == 0.25


def test_the_classes_keep_pytorchs_defaults():
    # Parity with torch relies on these; by name the defaults differ on purpose (default_lr).
    expected = {SGD: 1e-3, Adam: 1e-3, AdamW: 1e-3, RMSprop: 1e-2, Adagrad: 1e-2}
    for cls, lr in expected.items():
        assert cls(_params()).param_groups[0]["lr"] == lr, cls.__name__
    assert get_optimizer("sgd", _params()).param_groups[0]["lr"] == 0.1
    assert get_optimizer("rmsprop", _params()).param_groups[0]["lr"] == 1e-3


# --- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, cls", [("SGD", SGD), (" adam ", Adam), ("ADAMW", AdamW), ("RMSProp", RMSprop)]
)
def test_optimizer_names_ignore_case_and_spaces(name, cls):
    assert type(get_optimizer(name, _params())) is cls


def test_optimizer_names_list_the_known_ones_sorted():
    with pytest.raises(ConfigError) as info:
        get_optimizer("ladam", _params())
    listed = str(info.value).split("expected one of ")[1]
    assert listed == repr(tuple(sorted(OPTIMIZERS)))


@pytest.mark.parametrize(
    "name, cls",
    [("COSINE-RESTARTS", CosineAnnealingWarmRestarts), ("cosine_restarts", None), ("Step", None)],
)
def test_schedule_names_ignore_case_and_the_dash(name, cls):
    sched = get_schedule(name, SGD(_params(), lr=0.1), epochs=12)
    if cls is not None:
        assert type(sched) is cls
    assert isinstance(sched, optim.LRScheduler)


@pytest.mark.parametrize("name", ["plateau", "Reduce-On-Plateau", "ReduceLROnPlateau"])
def test_plateau_by_any_name_points_to_the_callback(name):
    with pytest.raises(ConfigError, match=r"ReduceLROnPlateau\(\.\.\.\)\] to the Trainer"):
        get_schedule(name, SGD(_params(), lr=0.1), epochs=12)


def test_schedule_names_are_a_tuple_without_plateau():
    assert SCHEDULES == ("step", "multistep", "exponential", "cosine", "cosine-restarts")
    with pytest.raises(ConfigError, match=r"expected one of \('step', .*'cosine-restarts'\)$"):
        get_schedule("linear", SGD(_params(), lr=0.1), epochs=12)


# --- SequentialLR.get_last_lr after a load -------------------------------------------------------


@pytest.mark.parametrize("steps", [0, 1, 2, 3, 4, 9])
def test_sequential_lr_load_restores_get_last_lr(steps):
    # Warm-up of 3 then cosine, saved before, at and after the milestone; the loaded schedule
    # reports the saved lrs before its first step (its own and each inner schedule's).
    def build(lr):
        groups = [{"params": _params(), "lr": lr}, {"params": _params(), "lr": 2 * lr}]
        opt = SGD(groups, lr=lr)
        return opt, get_schedule("cosine", opt, epochs=12, warmup=3)

    opt, sched = build(0.1)
    for _ in range(steps):
        sched.step()
    saved = json.loads(json.dumps(sched.state_dict()))
    opt2, sched2 = build(0.7)
    assert isinstance(sched2, SequentialLR) and sched2.get_last_lr() != sched.get_last_lr()
    opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(saved)
    assert sched2.get_last_lr() == sched.get_last_lr() == [g["lr"] for g in opt.param_groups]
    for inner2, inner in zip(sched2.schedulers, sched.schedulers, strict=True):
        assert inner2.get_last_lr() == inner.get_last_lr()
    for _ in range(10):
        sched.step()
        sched2.step()
        assert sched2.get_last_lr() == sched.get_last_lr()
