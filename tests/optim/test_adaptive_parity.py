"""Adam, AdamW, RMSprop, Adagrad: the same trajectories, state and defaults as torch.optim.

Every configuration trains the same 2-layer MLP (float64, same data, same initial weights) for
60 steps with our engine's gradients on one side and torch autograd's on the other. Weights are
kept in deltaprop's (in, out) layout on both sides, so nothing is transposed.
"""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn
from deltaprop.optim import Adagrad, Adam, AdamW, RMSprop

torch = pytest.importorskip("torch")
F = torch.nn.functional

STEPS = 60
# Parameters whose gradient is dropped on some steps: torch then skips them (no state change,
# no step count); so must we.
SKIP_EVERY, SKIP_AT = 7, 3

CASES = [
    (Adam, "Adam", {"lr": 1e-2}),
    (Adam, "Adam", {"lr": 1e-2, "amsgrad": True}),
    (Adam, "Adam", {"lr": 1e-2, "weight_decay": 0.1}),
    (Adam, "Adam", {"lr": 1e-2, "weight_decay": 0.1, "amsgrad": True}),
    (Adam, "Adam", {"lr": 2e-2, "betas": (0.3, 0.9), "eps": 1e-6}),
    (AdamW, "AdamW", {"lr": 1e-2}),
    (AdamW, "AdamW", {"lr": 1e-2, "weight_decay": 0.3}),
    (AdamW, "AdamW", {"lr": 1e-2, "weight_decay": 0.1, "amsgrad": True}),
    (RMSprop, "RMSprop", {"lr": 5e-3}),
    (RMSprop, "RMSprop", {"lr": 5e-3, "centered": True}),
    (RMSprop, "RMSprop", {"lr": 2e-3, "momentum": 0.9}),
    (RMSprop, "RMSprop", {"lr": 5e-3, "weight_decay": 0.05}),
    (RMSprop, "RMSprop", {"lr": 2e-3, "alpha": 0.9, "eps": 1e-6, "centered": True}),
    (
        RMSprop,
        "RMSprop",
        {"lr": 2e-3, "centered": True, "momentum": 0.5, "weight_decay": 0.05},
    ),
    (Adagrad, "Adagrad", {"lr": 5e-2}),
    (Adagrad, "Adagrad", {"lr": 5e-2, "lr_decay": 0.05}),
    (Adagrad, "Adagrad", {"lr": 5e-2, "initial_accumulator_value": 0.1}),
    (Adagrad, "Adagrad", {"lr": 5e-2, "weight_decay": 0.05}),
    (
        Adagrad,
        "Adagrad",
        {"lr": 5e-2, "lr_decay": 0.01, "initial_accumulator_value": 0.5, "weight_decay": 0.01},
    ),
]


def _case_id(case):
    _, name, options = case
    extra = ",".join(f"{k}={v}" for k, v in options.items() if k != "lr")
    return f"{name}[{extra or 'plain'}]"


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((24, 5))
    y = rng.integers(0, 3, size=24)
    weights = [
        rng.standard_normal((5, 8)) * 0.5,
        rng.standard_normal(8) * 0.1,
        rng.standard_normal((8, 3)) * 0.5,
        rng.standard_normal(3) * 0.1,
    ]
    return X, y, weights


def _ours(weights):
    model = nn.Sequential(
        nn.Linear(5, 8, dtype="float64"), nn.Tanh(), nn.Linear(8, 3, dtype="float64")
    )
    for p, w in zip(model.parameters(), weights):
        p.data[...] = w
    return model


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_mlp_trajectory_matches_torch_over_60_steps(case):
    cls, torch_name, options = case
    X, y, weights = _problem()
    model = _ours(weights)
    params = model.parameters()
    theirs = [torch.tensor(w, requires_grad=True) for w in weights]
    lr = options["lr"]
    # Two groups, the second with half the learning rate.
    opt = cls([{"params": params[:2]}, {"params": params[2:], "lr": lr / 2}], **options)
    topt = getattr(torch.optim, torch_name)(
        [{"params": theirs[:2]}, {"params": theirs[2:], "lr": lr / 2}], foreach=False, **options
    )
    loss_fn = nn.CrossEntropyLoss()
    Xt, yt = torch.tensor(X), torch.tensor(y)
    rng = np.random.default_rng(1)
    for step in range(STEPS):
        rows = rng.choice(len(X), size=8, replace=False)  # a fresh minibatch, same on both sides
        opt.zero_grad()
        loss_fn(model(dp.tensor(X[rows], dtype="float64")), y[rows]).backward()
        topt.zero_grad()
        W1, b1, W2, b2 = theirs
        F.cross_entropy(torch.tanh(Xt[rows] @ W1 + b1) @ W2 + b2, yt[rows]).backward()
        if step % SKIP_EVERY == SKIP_AT:
            params[1].grad, theirs[1].grad = None, None
        opt.step()
        topt.step()
    for i, (p, t) in enumerate(zip(params, theirs)):
        np.testing.assert_allclose(
            p.data, t.detach().numpy(), rtol=1e-9, atol=1e-11, err_msg=f"parameter {i}"
        )
    # The state holds the same arrays under torch's key names, and the same step counts.
    for i, (p, t) in enumerate(zip(params, theirs)):
        ours_state, their_state = opt.state[p], topt.state[t]
        assert set(ours_state) == set(their_state), i
        for key, value in their_state.items():
            if key == "step":
                assert ours_state["step"] == int(value.item()), (i, key)
            else:
                np.testing.assert_allclose(
                    ours_state[key], value.numpy(), rtol=1e-9, atol=1e-11, err_msg=f"{i} {key}"
                )
    assert opt.state[params[1]]["step"] == STEPS - len(range(SKIP_AT, STEPS, SKIP_EVERY))


@pytest.mark.parametrize(
    "cls, torch_name, keys",
    [
        (Adam, "Adam", ("lr", "betas", "eps", "weight_decay", "amsgrad")),
        (AdamW, "AdamW", ("lr", "betas", "eps", "weight_decay", "amsgrad")),
        (RMSprop, "RMSprop", ("lr", "alpha", "eps", "weight_decay", "momentum", "centered")),
        (
            Adagrad,
            "Adagrad",
            ("lr", "lr_decay", "eps", "weight_decay", "initial_accumulator_value"),
        ),
    ],
)
def test_defaults_match_torch(cls, torch_name, keys):
    theirs = getattr(torch.optim, torch_name)([torch.zeros(1, requires_grad=True)]).defaults
    ours = cls([nn.Parameter(np.zeros(1), dtype="float64")]).param_groups[0]
    for key in keys:
        assert ours[key] == theirs[key], key


def test_adagrad_state_exists_before_the_first_step_as_in_torch():
    p = nn.Parameter(np.zeros((2, 3)), dtype="float64")
    t = torch.zeros((2, 3), dtype=torch.float64, requires_grad=True)
    ours = Adagrad([p], initial_accumulator_value=0.25).state[p]
    theirs = torch.optim.Adagrad([t], initial_accumulator_value=0.25).state[t]
    assert set(ours) == set(theirs) == {"step", "sum"}
    assert ours["step"] == 0
    np.testing.assert_array_equal(ours["sum"], theirs["sum"].numpy())
