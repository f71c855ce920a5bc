"""Learning-rate schedules: parity with torch step by step, hand-worked values, state, bad args."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from deltaprop import nn
from deltaprop.errors import ConfigError
from deltaprop.optim import SGD
from deltaprop.optim.schedules import (
    ExponentialLR,
    LinearLR,
    LRScheduler,
    MultiStepLR,
    StepLR,
)
from deltaprop.optim.schedules_compose import SCHEDULES, SequentialLR, get_schedule
from deltaprop.optim.schedules_cosine import CosineAnnealingLR, CosineAnnealingWarmRestarts

OURS = SimpleNamespace(
    StepLR=StepLR,
    MultiStepLR=MultiStepLR,
    ExponentialLR=ExponentialLR,
    LinearLR=LinearLR,
    CosineAnnealingLR=CosineAnnealingLR,
    CosineAnnealingWarmRestarts=CosineAnnealingWarmRestarts,
    SequentialLR=SequentialLR,
)


def _opt(*lrs):
    """An SGD with one group per lr (one parameter each)."""
    groups = [{"params": [nn.Parameter(np.zeros(2))], "lr": lr} for lr in lrs]
    return SGD(groups, lr=lrs[0])


def _lrs(opt):
    return [g["lr"] for g in opt.param_groups]


# --- parity with torch.optim.lr_scheduler --------------------------------------------------------

# Each case builds a schedule from a namespace of classes (ours or torch's) and an optimizer.
CASES = {
    "step-1-0.5": lambda m, o: m.StepLR(o, step_size=1, gamma=0.5),
    "step-7-0.3": lambda m, o: m.StepLR(o, step_size=7, gamma=0.3),
    "step-3-default": lambda m, o: m.StepLR(o, 3),
    "multistep-0.5": lambda m, o: m.MultiStepLR(o, milestones=[10, 25, 60], gamma=0.5),
    "multistep-default": lambda m, o: m.MultiStepLR(o, [1, 2, 3]),
    "exponential-0.97": lambda m, o: m.ExponentialLR(o, gamma=0.97),
    "exponential-1.02": lambda m, o: m.ExponentialLR(o, gamma=1.02),
    "linear-default": lambda m, o: m.LinearLR(o),
    "linear-0.1-10": lambda m, o: m.LinearLR(o, start_factor=0.1, total_iters=10),
    "linear-decay": lambda m, o: m.LinearLR(o, start_factor=0.5, end_factor=0.2, total_iters=30),
    "linear-to-zero": lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.0, total_iters=50),
    "cosine-10": lambda m, o: m.CosineAnnealingLR(o, T_max=10),
    "cosine-50-eta": lambda m, o: m.CosineAnnealingLR(o, T_max=50, eta_min=1e-4),
    "cosine-1": lambda m, o: m.CosineAnnealingLR(o, T_max=1),
    "restarts-10": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=10),
    "restarts-3-x2-eta": lambda m, o: m.CosineAnnealingWarmRestarts(
        o, T_0=3, T_mult=2, eta_min=1e-3
    ),
    "restarts-1-x3": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=1, T_mult=3),
    "seq-linear-cosine": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=5), m.CosineAnnealingLR(o, 45)], [5]
    ),
    "seq-linear-step-exp": lambda m, o: m.SequentialLR(
        o,
        [m.LinearLR(o, total_iters=8), m.StepLR(o, 5, gamma=0.5), m.ExponentialLR(o, 0.9)],
        milestones=[10, 40],
    ),
    "seq-exp-restarts": lambda m, o: m.SequentialLR(
        o, [m.ExponentialLR(o, 0.95), m.CosineAnnealingWarmRestarts(o, 7, 2)], [20]
    ),
    "seq-cosine-linear-multistep": lambda m, o: m.SequentialLR(
        o,
        [
            m.CosineAnnealingLR(o, 12, eta_min=0.001),
            m.LinearLR(o, start_factor=0.3, end_factor=0.7, total_iters=6),
            m.MultiStepLR(o, [3, 9], gamma=0.2),
        ],
        milestones=[30, 33],
    ),
}


def _torch_pair(torch, build, lrs):
    params = [torch.zeros(2, requires_grad=True) for _ in lrs]
    topt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)], lr=lrs[0])
    return topt, build(torch.optim.lr_scheduler, topt)


def _assert_same(opt, sched, topt, tsched, where):
    np.testing.assert_allclose(_lrs(opt), _lrs(topt), rtol=0, atol=1e-12, err_msg=where)
    np.testing.assert_allclose(
        sched.get_last_lr(), tsched.get_last_lr(), rtol=0, atol=1e-12, err_msg=where
    )
    assert sched.last_epoch == tsched.last_epoch, where


@pytest.mark.parametrize("lrs", [(0.1,), (0.1, 0.025)], ids=["one-group", "two-groups"])
@pytest.mark.parametrize("case", list(CASES))
def test_lr_sequence_matches_torch_over_130_steps(case, lrs):
    torch = pytest.importorskip("torch")
    opt = _opt(*lrs)
    sched = CASES[case](OURS, opt)
    topt, tsched = _torch_pair(torch, CASES[case], lrs)
    _assert_same(opt, sched, topt, tsched, "after construction")
    for step in range(130):
        topt.step()  # no gradients: a no-op that keeps torch from warning about the order
        sched.step()
        tsched.step()
        _assert_same(opt, sched, topt, tsched, f"after step {step + 1}")
    if case.startswith("restarts"):
        assert (sched.T_cur, sched.T_i) == (tsched.T_cur, tsched.T_i)


@pytest.mark.parametrize(
    "case", ["step-7-0.3", "linear-0.1-10", "cosine-10", "restarts-10", "seq-linear-cosine"]
)
def test_an_lr_changed_from_outside_carries_on_as_in_torch(case):
    # What a plateau callback does between steps; the recursive form keeps the change.
    torch = pytest.importorskip("torch")
    opt = _opt(0.1, 0.05)
    sched = CASES[case](OURS, opt)
    topt, tsched = _torch_pair(torch, CASES[case], (0.1, 0.05))
    for step in range(60):
        if step in (4, 23):
            for g, tg in zip(opt.param_groups, topt.param_groups):
                g["lr"] *= 0.5
                tg["lr"] *= 0.5
        topt.step()
        sched.step()
        tsched.step()
        _assert_same(opt, sched, topt, tsched, f"after step {step + 1}")


@pytest.mark.parametrize(
    "name, kwargs, build",
    [
        ("cosine", {}, lambda m, o: m.CosineAnnealingLR(o, T_max=40)),
        (
            "cosine",
            {"warmup": 5},
            lambda m, o: m.SequentialLR(
                o, [m.LinearLR(o, 0.1, total_iters=5), m.CosineAnnealingLR(o, 35)], [5]
            ),
        ),
        (
            "step",
            {"warmup": 4, "gamma": 0.5},
            lambda m, o: m.SequentialLR(
                o, [m.LinearLR(o, 0.1, total_iters=4), m.StepLR(o, 12, 0.5)], [4]
            ),
        ),
        ("cosine-restarts", {}, lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=10)),
    ],
)
def test_get_schedule_matches_the_torch_composition(name, kwargs, build):
    torch = pytest.importorskip("torch")
    opt = _opt(0.1, 0.02)
    sched = get_schedule(name, opt, 40, **kwargs)
    topt, tsched = _torch_pair(torch, build, (0.1, 0.02))
    for step in range(40):
        _assert_same(opt, sched, topt, tsched, f"after step {step}")
        topt.step()
        sched.step()
        tsched.step()


# --- values worked out by hand -------------------------------------------------------------------


def _run(sched, steps):
    """The lr of the first group at epochs 0..steps (construction sets epoch 0)."""
    out = [sched.get_last_lr()[0]]
    for _ in range(steps):
        sched.step()
        out.append(sched.get_last_lr()[0])
    return out


def test_step_lr_by_hand():
    # base 1, step_size 2, gamma 0.5: lr_t = 0.5 ** (t // 2) -> 1, 1, .5, .5, .25, .25, .125
    opt = _opt(1.0)
    assert _run(StepLR(opt, step_size=2, gamma=0.5), 6) == [1, 1, 0.5, 0.5, 0.25, 0.25, 0.125]
    assert _lrs(opt) == [0.125]  # the schedule writes the optimizer's lr


def test_multistep_lr_by_hand():
    # milestones 2 and 5, gamma 0.5: one halving at t = 2, another at t = 5
    sched = MultiStepLR(_opt(1.0), milestones=[2, 5], gamma=0.5)
    assert _run(sched, 6) == [1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]


def test_exponential_lr_by_hand():
    # base 0.8, gamma 0.5: 0.8 * 0.5 ** t -> 0.8, 0.4, 0.2, 0.1 (halving is exact in binary)
    opt = _opt(0.8, 2.0)
    sched = ExponentialLR(opt, gamma=0.5)
    assert _run(sched, 3) == [0.8, 0.4, 0.2, 0.1]
    assert sched.get_last_lr() == [0.1, 0.25]  # the second group: 2 * 0.5 ** 3


def test_linear_lr_by_hand():
    # start 0.25, end 1, 3 steps: factor 0.25 + 0.75 * min(t, 3) / 3 -> 0.25, 0.5, 0.75, 1, 1.
    # Recursively: t=1: 0.25 * (1 + 0.75 / (3 * 0.25 + 0 * 0.75)) = 0.25 * 2 = 0.5;
    #              t=2: 0.5 * (1 + 0.75 / (0.75 + 0.75)) = 0.75;  t=3: 0.75 * (1 + 1/3) = 1.
    sched = LinearLR(_opt(1.0), start_factor=0.25, end_factor=1.0, total_iters=3)
    assert _run(sched, 5) == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0], abs=1e-15)


def test_cosine_lr_by_hand():
    # T_max 2, base 1: (1 + cos(pi t / 2)) / 2 -> 1, 0.5, 0, then up again: 0.5, 1
    sched = CosineAnnealingLR(_opt(1.0), T_max=2)
    assert _run(sched, 4) == pytest.approx([1.0, 0.5, 0.0, 0.5, 1.0], abs=1e-15)


def test_warm_restarts_by_hand():
    # T_0 2, T_mult 2, base 1: T_cur/T_i = 0/2, 1/2, restart 0/4, 1/4, 2/4, 3/4, restart 0/8
    c = (1 + math.cos(math.pi / 4)) / 2
    d = (1 + math.cos(3 * math.pi / 4)) / 2
    sched = CosineAnnealingWarmRestarts(_opt(1.0), T_0=2, T_mult=2)
    assert _run(sched, 6) == pytest.approx([1.0, 0.5, 1.0, c, 0.5, d, 1.0], abs=1e-15)
    assert (sched.T_cur, sched.T_i, sched.last_epoch) == (0, 8, 6)


def test_sequential_lr_by_hand():
    # Warm-up 0.5 -> 1 over 2 steps, then StepLR(1, 0.5) restarted at epoch 2 with lr = base:
    #   t=0: 0.5, t=1: 0.75 (warm-up), t=2: 1 (StepLR's epoch 0), t=3: 0.5, t=4: 0.25
    opt = _opt(1.0)
    warm = LinearLR(opt, start_factor=0.5, total_iters=2)
    main = StepLR(opt, step_size=1, gamma=0.5)
    assert main.base_lrs == [1.0]  # the optimizer's first lr, not the warm-up's 0.5
    sched = SequentialLR(opt, [warm, main], milestones=[2])
    assert _run(sched, 4) == [0.5, 0.75, 1.0, 0.5, 0.25]
    assert (sched.last_epoch, warm.last_epoch, main.last_epoch) == (4, 1, 2)


# --- state ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    ["step-7-0.3", "multistep-0.5", "linear-decay", "cosine-10", "restarts-3-x2-eta"]
    + ["seq-linear-step-exp", "seq-exp-restarts"],
)
def test_state_dict_round_trip_mid_way_continues_identically(case):
    opt = _opt(0.1, 0.03)
    sched = CASES[case](OURS, opt)
    for _ in range(17):
        sched.step()
    saved = json.loads(json.dumps(sched.state_dict()))  # plain JSON-able values
    opt_saved = opt.state_dict()

    opt2 = _opt(0.5, 0.5)
    sched2 = CASES[case](OURS, opt2)
    opt2.load_state_dict(opt_saved)  # the current lrs live in the optimizer
    sched2.load_state_dict(saved)
    assert sched2.state_dict() == sched.state_dict()
    assert sched2.get_last_lr() == sched.get_last_lr()
    for _ in range(40):
        sched.step()
        sched2.step()
        assert _lrs(opt2) == _lrs(opt)
        assert sched2.last_epoch == sched.last_epoch


def test_state_dict_holds_hyperparameters_and_counters():
    opt = _opt(0.1, 0.02)
    sched = CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2, eta_min=0.001)
    for _ in range(4):
        sched.step()
    assert sched.state_dict() == {
        "last_epoch": 4,
        "base_lrs": [0.1, 0.02],
        "last_lr": _lrs(opt),
        "T_0": 3,
        "T_mult": 2,
        "eta_min": 0.001,
        "T_i": 6,
        "T_cur": 1,
    }


def test_bad_state_dicts():
    sched = StepLR(_opt(0.1), step_size=2)
    good = sched.state_dict()
    with pytest.raises(ConfigError, match=r"state_dict: expected the keys .* of a StepLR"):
        sched.load_state_dict(dict(good, T_max=3))
    with pytest.raises(ConfigError, match=r"state_dict: expected the keys"):
        sched.load_state_dict([1, 2])
    with pytest.raises(ConfigError, match=r"state_dict\['base_lrs'\]: expected 1 value"):
        sched.load_state_dict(dict(good, base_lrs=[0.1, 0.2]))
    seq = get_schedule("cosine", _opt(0.1), 20, warmup=3)
    saved = seq.state_dict()
    with pytest.raises(ConfigError, match=r"state_dict\['schedulers'\]: expected 2 schedule"):
        seq.load_state_dict(dict(saved, schedulers=saved["schedulers"][:1]))
    assert sched.state_dict() == good


def test_base_lrs_are_the_lrs_before_any_schedule():
    opt = _opt(0.1, 0.2)
    first = LinearLR(opt, start_factor=0.5)
    assert _lrs(opt) == [0.05, 0.1]
    second = CosineAnnealingLR(opt, T_max=10)
    assert first.base_lrs == second.base_lrs == [0.1, 0.2]
    assert isinstance(second, LRScheduler) and second.optimizer is opt


# --- get_schedule --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, cls, expected",
    [
        ("step", StepLR, {"step_size": 10, "gamma": 0.1}),
        ("multistep", MultiStepLR, {"milestones": [15, 22], "gamma": 0.1}),
        ("exponential", ExponentialLR, {"gamma": 0.01 ** (1 / 30)}),
        ("cosine", CosineAnnealingLR, {"T_max": 30, "eta_min": 0.0}),
        ("cosine-restarts", CosineAnnealingWarmRestarts, {"T_0": 7, "T_mult": 1}),
        (" Cosine_Restarts ", CosineAnnealingWarmRestarts, {"T_0": 7}),
    ],
)
def test_get_schedule_defaults_follow_the_epochs(name, cls, expected):
    sched = get_schedule(name, _opt(0.1), epochs=30)
    assert type(sched) is cls
    for key, value in expected.items():
        assert getattr(sched, key) == value, key


def test_get_schedule_exponential_reaches_one_percent():
    sched = get_schedule("exponential", _opt(0.1), epochs=30)
    for _ in range(30):
        sched.step()
    assert sched.get_last_lr()[0] == pytest.approx(0.001, rel=1e-12)


def test_get_schedule_warmup_wraps_in_sequential_lr():
    opt = _opt(0.1)
    sched = get_schedule("cosine", opt, epochs=50, warmup=5, eta_min=1e-4)
    assert isinstance(sched, SequentialLR) and sched.milestones == [5]
    warm, main = sched.schedulers
    assert type(warm) is LinearLR and (warm.start_factor, warm.total_iters) == (0.1, 5)
    assert type(main) is CosineAnnealingLR and (main.T_max, main.eta_min) == (45, 1e-4)
    lrs = _run(sched, 50)
    assert lrs[0] == pytest.approx(0.01) and lrs[5] == 0.1
    assert lrs[50] == pytest.approx(1e-4, abs=1e-15)  # T_max = epochs - warmup
    assert get_schedule("step", _opt(0.1), epochs=33, warmup=3).schedulers[1].step_size == 10


def test_get_schedule_tiny_epochs_give_valid_defaults():
    for name in SCHEDULES:
        get_schedule(name, _opt(0.1), epochs=1)
        get_schedule(name, _opt(0.1), epochs=2, warmup=1)
    assert get_schedule("multistep", _opt(0.1), epochs=2).milestones == [1]


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        (("plateau",), {}, r"dp\.callbacks\.ReduceLROnPlateau"),
        (("adam",), {}, r"schedule: unknown name 'adam'; expected one of \('step', 'multistep', "),
        ((None,), {}, r"schedule: expected a name, got NoneType"),
        (("step",), {"epochs": 0}, r"epochs: expected an integer >= 1, got 0"),
        (("step",), {"epochs": 10.0}, r"epochs: expected an integer >= 1"),
        (("step",), {"warmup": -1}, r"warmup: expected an integer >= 0, got -1"),
        (("cosine",), {"warmup": 10}, r"warmup: expected fewer warm-up steps than epochs \(10\)"),
        (("cosine",), {"T_0": 3}, r"cosine: unknown option\(s\) \['T_0'\]; CosineAnnealingLR"),
        (("step",), {"gamma": 0}, r"gamma: expected a finite number > 0, got 0"),
    ],
)
def test_get_schedule_bad_arguments(args, kwargs, match):
    kwargs = {"epochs": 10, **kwargs}
    with pytest.raises(ConfigError, match=match):
        get_schedule(*args, _opt(0.1), **kwargs)


# --- bad arguments -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda o: StepLR(o, step_size=0), r"step_size: expected an integer >= 1, got 0"),
        (lambda o: StepLR(o, step_size=2.5), r"step_size: expected an integer >= 1, got 2\.5"),
        (lambda o: StepLR(o, step_size=True), r"step_size: expected an integer"),
        (lambda o: StepLR(o, 2, gamma=0), r"gamma: expected a finite number > 0, got 0"),
        (lambda o: StepLR(o, 2, gamma=-0.5), r"gamma: expected a finite number > 0"),
        (lambda o: StepLR(o, 2, gamma="0.1"), r"gamma: expected a finite number > 0"),
        (lambda o: MultiStepLR(o, [5, 3]), r"milestones: expected strictly increasing"),
        (lambda o: MultiStepLR(o, [2, 2]), r"milestones: expected strictly increasing"),
        (lambda o: MultiStepLR(o, [0, 4]), r"milestones\[0\]: expected an integer >= 1, got 0"),
        (lambda o: MultiStepLR(o, [2, 4.5]), r"milestones\[1\]: expected an integer"),
        (lambda o: MultiStepLR(o, 5), r"milestones: expected a list of integers, got 5"),
        (lambda o: MultiStepLR(o, [2], gamma=0.0), r"gamma: expected a finite number > 0"),
        (lambda o: ExponentialLR(o, gamma=0), r"gamma: expected a finite number > 0, got 0"),
        (lambda o: ExponentialLR(o, gamma=float("nan")), r"gamma: expected a finite number > 0"),
        (lambda o: LinearLR(o, start_factor=0), r"start_factor: expected a number in \(0, 1\]"),
        (lambda o: LinearLR(o, start_factor=1.5), r"start_factor: expected a number in \(0, 1\]"),
        (lambda o: LinearLR(o, end_factor=-0.1), r"end_factor: expected a number in \[0, 1\]"),
        (lambda o: LinearLR(o, end_factor=2), r"end_factor: expected a number in \[0, 1\]"),
        (lambda o: LinearLR(o, total_iters=0), r"total_iters: expected an integer >= 1, got 0"),
        (lambda o: CosineAnnealingLR(o, T_max=0), r"T_max: expected an integer >= 1, got 0"),
        (lambda o: CosineAnnealingLR(o, T_max=10.0), r"T_max: expected an integer >= 1"),
        (
            lambda o: CosineAnnealingLR(o, 10, eta_min=-1e-3),
            r"eta_min: expected a finite number >= 0",
        ),
        (lambda o: CosineAnnealingWarmRestarts(o, T_0=0), r"T_0: expected an integer >= 1"),
        (lambda o: CosineAnnealingWarmRestarts(o, 5, T_mult=0), r"T_mult: expected an integer"),
        (lambda o: CosineAnnealingWarmRestarts(o, 5, T_mult=1.5), r"T_mult: expected an integ"),
        (
            lambda o: CosineAnnealingWarmRestarts(o, 5, eta_min=-1),
            r"eta_min: expected a finite number",
        ),
    ],
)
def test_bad_schedule_arguments(build, match):
    opt = _opt(0.1)
    with pytest.raises(ConfigError, match=match):
        build(opt)
    assert _lrs(opt) == [0.1]  # a refused schedule leaves the optimizer alone


@pytest.mark.parametrize("cls", [StepLR, ExponentialLR, CosineAnnealingLR])
def test_a_non_optimizer_is_refused(cls):
    with pytest.raises(ConfigError, match=r"optimizer: expected a deltaprop Optimizer.*got .*list"):
        cls([nn.Parameter(np.zeros(2))], 2)


def test_a_torch_optimizer_is_refused():
    torch = pytest.importorskip("torch")
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(ConfigError, match=r"optimizer: .*got torch\.optim\.sgd\.SGD"):
        StepLR(topt, 2)


def test_bad_sequential_lr_arguments():
    opt, other = _opt(0.1), _opt(0.1)
    a, b = LinearLR(opt), ExponentialLR(opt, 0.9)
    with pytest.raises(ConfigError, match=r"schedulers: expected a non-empty list"):
        SequentialLR(opt, [], [])
    with pytest.raises(ConfigError, match=r"schedulers\[1\]: expected an LRScheduler, got str"):
        SequentialLR(opt, [a, "cosine"], [3])
    with pytest.raises(ConfigError, match=r"schedulers\[1\]: ExponentialLR was built on another"):
        SequentialLR(opt, [a, ExponentialLR(other, 0.9)], [3])
    with pytest.raises(ConfigError, match=r"milestones: expected 1 milestone\(s\) for 2"):
        SequentialLR(opt, [a, b], [3, 6])
    with pytest.raises(ConfigError, match=r"milestones: expected strictly increasing"):
        SequentialLR(opt, [a, b, StepLR(opt, 2)], [6, 3])
    with pytest.raises(ConfigError, match=r"milestones\[0\]: expected an integer >= 1, got 0"):
        SequentialLR(opt, [a, b], [0])
    with pytest.raises(ConfigError, match=r"optimizer: expected a deltaprop Optimizer"):
        SequentialLR(None, [a, b], [3])
    inner = SequentialLR(opt, [a, b], [3])
    with pytest.raises(ConfigError, match=r"schedulers\[0\]: a SequentialLR cannot be nested"):
        SequentialLR(opt, [inner, StepLR(opt, 2)], [5])
