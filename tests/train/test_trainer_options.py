"""Trainer options: LR schedules (per epoch / per step), gradient clipping, l1/l2 penalties."""

from __future__ import annotations

import math

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn
from deltaprop.errors import ConfigError
from deltaprop.optim import SGD
from deltaprop.optim.schedules import StepLR
from deltaprop.train import Callback, Trainer


def mlp(seed=0, **linear_kwargs):
    dp.seed(seed)
    first = linear_kwargs.pop("first", {})
    return nn.Sequential(nn.Linear(3, 4, **first), nn.Tanh(), nn.Linear(4, 2, **linear_kwargs))


def grad_norm_at(model, X, y):
    """The global L2 norm of the data-loss gradient at the model's current weights."""
    model.zero_grad()
    nn.CrossEntropyLoss()(model(dp.tensor(X)), y).backward()
    total = sum(float((p.grad.numpy().astype(np.float64) ** 2).sum()) for p in model.parameters())
    model.zero_grad()
    return math.sqrt(total)


class Rates(Callback):
    def __init__(self):
        self.lrs = []

    def on_batch_begin(self, batch, logs=None):
        self.lrs.append(self.trainer.optimizer.param_groups[0]["lr"])


# --- schedules -----------------------------------------------------------------------------------


def test_scheduler_steps_after_every_epoch_and_lr_is_logged(toy):
    model = mlp()
    opt = SGD(model.parameters(), lr=0.1)
    rates = Rates()
    trainer = Trainer(model, "cross_entropy", opt, scheduler=StepLR(opt, 1, 0.5), callbacks=[rates])
    history = trainer.fit(
        *toy(n=8, rule="sum2"), epochs=3, batch_size=4, verbose=False
    )  # 2 steps per epoch
    assert history.history["lr"] == [0.1, 0.05, 0.025]
    assert rates.lrs == [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
    assert opt.param_groups[0]["lr"] == 0.0125 and trainer.scheduler.last_epoch == 3


def test_scheduler_steps_after_every_batch_with_interval_step(toy):
    model = mlp()
    opt = SGD(model.parameters(), lr=0.1)
    rates = Rates()
    sched = StepLR(opt, 1, 0.5)
    trainer = Trainer(
        model, "cross_entropy", opt, scheduler=sched, scheduler_interval="step", callbacks=[rates]
    )
    history = trainer.fit(*toy(n=8, rule="sum2"), epochs=3, batch_size=4, verbose=False)
    assert rates.lrs == [0.1 * 0.5**k for k in range(6)]
    assert history.history["lr"] == [0.1, 0.1 * 0.5**2, 0.1 * 0.5**4]  # the epoch's first step
    assert sched.last_epoch == 6


def test_lr_is_logged_without_a_scheduler_and_printed(capsys, toy):
    model = mlp()
    trainer = Trainer(model, "cross_entropy", SGD(model.parameters(), lr=0.003))
    history = trainer.fit(*toy(n=8, rule="sum2"), epochs=2, verbose=True)
    assert history.history["lr"] == [0.003, 0.003]
    assert "  lr 0.003  " in capsys.readouterr().out


# --- clipping ------------------------------------------------------------------------------------


def test_grad_norm_is_the_mean_pre_clip_norm_over_the_epoch_steps(toy):
    X, y = toy(n=4, rule="sum2")
    model = mlp()
    expected = []

    class Manual(Callback):
        def on_batch_begin(self, batch, logs=None):  # stochastic, unshuffled: row == batch
            expected.append(grad_norm_at(self.model, X[batch : batch + 1], y[batch : batch + 1]))

    trainer = Trainer(
        model, "cross_entropy", SGD(model.parameters(), lr=0.5), clip_norm=0.1, callbacks=[Manual()]
    )
    history = trainer.fit(X, y, epochs=2, descent="stochastic", shuffle=False, verbose=False)
    norms = history.history["grad_norm"]
    assert norms[0] == pytest.approx(np.mean(expected[:4]), rel=1e-5)
    assert norms[1] == pytest.approx(np.mean(expected[4:]), rel=1e-5)
    assert max(expected) > 0.1  # so the clipping did something


def test_clip_norm_scales_the_update_to_max_norm(toy):
    X, y = toy(n=8, rule="sum2")
    model = mlp()
    w0 = [p.data.copy() for p in model.parameters()]
    norm = grad_norm_at(model, X, y)
    trainer = Trainer(model, "cross_entropy", SGD(model.parameters(), lr=1.0), clip_norm=norm / 4)
    history = trainer.fit(X, y, epochs=1, descent="batch", verbose=False)
    step = math.sqrt(sum(float(((p.data - w) ** 2).sum()) for p, w in zip(model.parameters(), w0)))
    assert history.history["grad_norm"] == [pytest.approx(norm, rel=1e-5)]
    assert step == pytest.approx(norm / 4, rel=1e-4)  # lr 1: the update is the clipped gradient


def test_clip_norm_inf_only_measures(toy):
    X, y = toy(n=8, rule="sum2")
    runs = []
    for clip in (None, math.inf):
        model = mlp()
        trainer = Trainer(model, "cross_entropy", SGD(model.parameters(), lr=0.3), clip_norm=clip)
        runs.append((trainer.fit(X, y, epochs=3, batch_size=4, seed=1, verbose=False), model))
    (h0, m0), (h1, m1) = runs
    assert "grad_norm" not in h0.history and len(h1.history["grad_norm"]) == 3
    for a, b in zip(m0.parameters(), m1.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_clip_value_bounds_every_gradient_entry(toy):
    X, y = toy(n=8, rule="sum2")
    X *= 50  # big inputs, big gradients
    largest = []

    class Grads(Callback):
        def on_batch_end(self, batch, logs=None):  # the step leaves p.grad in place
            largest.append(
                max(float(np.abs(p.grad.numpy()).max()) for p in self.model.parameters())
            )

    for clip in (None, 0.01):
        model = mlp()
        Trainer(
            model, "cross_entropy", SGD(model.parameters(), lr=0.01), clip_value=clip,
            callbacks=[Grads()],
        ).fit(X, y, epochs=2, batch_size=4, verbose=False)  # fmt: skip
    assert max(largest[:4]) > 0.01 and max(largest[4:]) <= 0.01


# --- penalties -----------------------------------------------------------------------------------


def weights_only(model):
    return [m.weight for m in model.modules() if isinstance(m, nn.Linear)]


def reference_step(model, X, y, lr, coefficients):
    """One SGD step on data loss + sum a|W| + b W^2 built in the graph (the autograd truth)."""
    loss = nn.CrossEntropyLoss()(model(dp.tensor(X)), y)
    for w, (a, b) in zip(weights_only(model), coefficients):
        loss = loss + a * nn.l1_penalty([w]) + b * nn.l2_penalty([w])
    model.zero_grad()
    loss.backward()
    new = [p.data - lr * p.grad.numpy() for p in model.parameters()]
    model.zero_grad()
    return float(loss.numpy()), new


@pytest.mark.parametrize(
    "trainer_kwargs, layer_kwargs, coefficients",
    [
        ({"l1": 0.01, "l2": 0.02}, {}, [(0.01, 0.02), (0.01, 0.02)]),
        ({}, {"first": {"l2": 0.1}}, [(0.0, 0.1), (0.0, 0.0)]),
        ({"l2": 0.05}, {"l1": 0.03, "first": {"l2": 0.1}}, [(0.0, 0.15), (0.03, 0.05)]),
    ],
)
def test_penalties_are_in_the_reported_loss_and_the_gradient(
    trainer_kwargs, layer_kwargs, coefficients, toy
):
    X, y = toy(n=8, rule="sum2")
    model = mlp(**{k: dict(v) if isinstance(v, dict) else v for k, v in layer_kwargs.items()})
    data_loss = Trainer(model, "cross_entropy", None).evaluate(X, y)["loss"]
    penalty = sum(
        a * float(np.abs(w.data).sum()) + b * float((w.data.astype(np.float64) ** 2).sum())
        for w, (a, b) in zip(weights_only(model), coefficients)
    )
    expected_loss, expected_weights = reference_step(model, X, y, 0.1, coefficients)
    assert expected_loss == pytest.approx(data_loss + penalty, rel=1e-5)

    trainer = Trainer(model, "cross_entropy", SGD(model.parameters(), lr=0.1), **trainer_kwargs)
    history = trainer.fit(X, y, epochs=1, descent="batch", verbose=False)
    assert history.history["loss"][0] == pytest.approx(data_loss + penalty, rel=1e-5)
    for p, w in zip(model.parameters(), expected_weights):
        np.testing.assert_allclose(p.data, w, rtol=1e-5, atol=1e-7)  # biases: data gradient only
    assert trainer.evaluate(X, y)["loss"] < history.history["loss"][0]  # val: data loss alone


def test_no_penalty_no_clip_by_default():
    model = mlp()
    trainer = Trainer(model, "cross_entropy", SGD(model.parameters(), lr=0.1))
    assert trainer._penalties == [] and trainer.clip_norm is None and trainer.clip_value is None
    trainer = Trainer(model, "cross_entropy", SGD(model.parameters(), lr=0.1), l2=1e-4)
    assert trainer._penalties != []


def test_linear_keeps_its_penalties_in_the_config_and_the_file(tmp_path):
    layer = nn.Linear(3, 2, l1=0.5, l2=0.25)
    config = layer.get_config()
    assert config["l1"] == 0.5 and config["l2"] == 0.25
    assert "l1" not in nn.Linear(3, 2).get_config()  # 0 by default: configs stay as before
    assert nn.Linear(3, 2, l2=0.1).get_config()["l2"] == 0.1 and nn.Linear(**config).l1 == 0.5
    assert "l1=0.5, l2=0.25" in repr(layer)
    dp.save(nn.Sequential(layer), tmp_path / "m.safetensors")
    loaded = dp.load(tmp_path / "m.safetensors")
    assert loaded[0].l1 == 0.5 and loaded[0].l2 == 0.25
    with pytest.raises(ConfigError, match="l2: expected a finite number >= 0"):
        nn.Linear(3, 2, l2=-0.1)
    with pytest.raises(ConfigError, match="l1: expected a finite number >= 0"):
        nn.Linear(3, 2, l1="big")


# --- bad arguments -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"l1": -0.1}, r"l1: expected a finite number >= 0"),
        ({"l2": math.nan}, r"l2: expected a finite number >= 0"),
        ({"clip_norm": 0}, r"clip_norm: expected a number > 0"),
        ({"clip_norm": "1"}, r"clip_norm: expected a number > 0"),
        ({"clip_value": -1.0}, r"clip_value: expected a finite number > 0"),
        (
            {"scheduler_interval": "batch"},
            r"scheduler_interval: unknown name 'batch'; expected one of \('epoch', 'step'\)",
        ),
        ({"scheduler": 0.5}, r"scheduler: expected a learning-rate schedule"),
        ({"scheduler": "other"}, r"scheduler: it was built on another optimizer"),
    ],
)
def test_bad_options(kwargs, match):
    model = mlp()
    opt = SGD(model.parameters(), lr=0.1)
    if kwargs.get("scheduler") == "other":
        kwargs = {"scheduler": StepLR(SGD(model.parameters(), lr=0.1), 1)}
    with pytest.raises(ConfigError, match=match):
        Trainer(model, "cross_entropy", opt, **kwargs)


def _bn_model():
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def test_batchnorm_with_a_last_batch_of_one_row_fails_before_any_step():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((65, 4)).astype(np.float32)
    y = np.arange(65) % 3
    model = _bn_model()
    before = model.state_dict()
    trainer = Trainer(model, "cross_entropy", SGD(model.parameters(), lr=0.1))
    with pytest.raises(ConfigError, match="batch_size: with 65 rows.*drop_last=True"):
        trainer.fit(X, y, epochs=2, batch_size=32, verbose=False)
    with pytest.raises(ConfigError, match="descent: BatchNorm1d needs at least 2 rows"):
        trainer.fit(X, y, epochs=2, descent="stochastic", verbose=False)
    after = model.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)  # nothing was touched
    history = trainer.fit(X, y, epochs=2, batch_size=32, drop_last=True, verbose=False)
    assert len(history.history["loss"]) == 2
    assert int(model[1].num_batches_tracked.data) == 4  # 2 full batches per epoch, last dropped


def test_drop_last_averages_over_the_rows_trained_on():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((10, 4)).astype(np.float32)
    y = np.arange(10) % 3
    model = nn.Sequential(nn.Linear(4, 3))
    seen = []

    class Rows(Callback):
        def on_batch_end(self, batch, logs=None):
            seen.append((logs["size"], logs["loss"]))

    trainer = Trainer(model, "cross_entropy", SGD(model.parameters(), lr=0.0 + 1e-9),
                      callbacks=[Rows()])  # fmt: skip
    history = trainer.fit(X, y, epochs=1, batch_size=4, drop_last=True, verbose=False)
    assert [size for size, _ in seen] == [4, 4]
    expected = sum(size * loss for size, loss in seen) / 8
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-12)
