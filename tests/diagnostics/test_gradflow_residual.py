"""Gradient flow, the monitor, the init check and the doctor on models with skip connections
and convolutions: layers inside Residual blocks get their activation statistics, Conv2d layers
are reported (their channels are the units), and a deep net that vanishes is told about
--residual."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn
from deltaprop.callbacks import GradientMonitor
from deltaprop.diagnostics import diagnose, gradient_flow, init_check
from deltaprop.recipe import Recipe, diagnose_run


def _data(n=32, d=6, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)).astype(np.float32), rng.integers(0, k, n)


def test_layers_inside_residual_blocks_get_activation_statistics():
    X, y = _data()
    dp.seed(0)
    model = nn.Sequential(  # what nn.mlp(6, [8, 8], 3, activation="tanh", residual=True) builds
        nn.Residual(nn.Sequential(nn.Linear(6, 8), nn.Tanh()), nn.Linear(6, 8, bias=False)),
        nn.Residual(nn.Sequential(nn.Linear(8, 8), nn.Tanh())),
        nn.Linear(8, 3),
    )
    report = gradient_flow(model, X, y, "cross_entropy")
    assert list(report["layers"]) == ["0.block.0", "0.shortcut", "1.block.0", "2"]
    inner = report["layers"]["1.block.0"]
    assert inner["activation"] == "tanh" and inner["act_std"] > 0
    # the figures are those of the block's own output, tanh(x W + b), computed here by hand
    h0 = model[0](dp.tensor(X)).numpy()
    a = np.tanh(h0 @ model[1].block[0].weight.numpy() + model[1].block[0].bias.numpy())
    assert inner["act_mean"] == pytest.approx(float(a.mean()), abs=1e-6)
    assert inner["act_std"] == pytest.approx(float(a.std()), rel=1e-5)
    assert report["layers"]["0.shortcut"]["activation"] is None  # a projection: no activation
    # and the pass is the model's own: same loss as forward()
    loss = nn.CrossEntropyLoss()(model(dp.tensor(X)), y)
    assert report["loss"] == pytest.approx(float(loss.data), rel=1e-6)


def test_conv_layers_are_reported_per_channel():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4, 1, 6, 6)).astype(np.float32)
    y = np.array([0, 1, 0, 1])
    dp.seed(0)
    model = nn.Sequential(  # nn.cnn((1, 6, 6), 2, channels=(3,), hidden=(4,), residual=True)
        nn.Residual(nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU()),
                    shortcut=nn.Conv2d(1, 3, 1, bias=False)),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(27, 4), nn.ReLU(), nn.Linear(4, 2),
    )  # fmt: skip
    with dp.no_grad():
        model[0].block[0].bias.data[1] = -100.0  # channel 1: relu(-100 + ...) = 0 everywhere
    report = gradient_flow(model, X, y, "cross_entropy")
    assert list(report["layers"]) == ["0.block.0", "0.shortcut", "3", "5"]
    conv = report["layers"]["0.block.0"]
    assert conv["activation"] == "relu" and conv["grad_norm"] > 0
    assert conv["dead_fraction"] == pytest.approx(1 / 3)  # one of the 3 channels
    assert init_check(model, X, y, "cross_entropy")[0][0] == "0.block.0"


def test_the_monitor_and_the_doctor_work_on_a_residual_model():
    X, y = _data(n=64)
    dp.seed(0)
    model = nn.mlp(6, [8] * 6, 3, activation="tanh", residual=True)
    monitor = GradientMonitor(X=X[:16], y=y[:16])
    trainer = dp.Trainer(model, loss="cross_entropy", optimizer="sgd", metrics=["accuracy"],
                         callbacks=[monitor])  # fmt: skip
    history = trainer.fit(X, y, epochs=2, verbose=False)
    table = monitor.table()
    assert "5.block.0" in table and "act std" in table
    assert set(monitor.series("grad_norm")) == {f"{i}.block.0" for i in range(6)} | {
        "0.shortcut", "6"}  # fmt: skip
    assert diagnose(history).status in ("healthy", "underfitting")


def test_deep_plain_net_vanishes_and_the_doctor_suggests_skip_connections():
    H = ",".join(["16"] * 10)
    result = diagnose_run(Recipe(dataset="iris", hidden=H, activation="sigmoid", init="normal",
                                 epochs=3, seed=0))  # fmt: skip
    assert result.verdict.status == "vanishing"
    changes = [r.changes for r in result.verdict.remedies]
    assert {"residual": True} in changes
    again = diagnose_run(Recipe(dataset="iris", hidden=H, activation="sigmoid", init="normal",
                                epochs=3, seed=0, residual=True))  # fmt: skip
    assert {"residual": True} not in [r.changes for r in again.verdict.remedies]
    assert "0.block.0" in again.monitor.table()
