"""Gradient flow: gradient_flow's figures against hand computation, GradientMonitor's records."""

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn
from deltaprop.diagnostics import gradient_flow
from deltaprop.errors import ConfigError


def _data(n=32, d=4, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)).astype(np.float32), rng.integers(0, k, n)


def _net(*layers):
    dp.seed(0)
    return nn.Sequential(*layers)


def test_norms_equal_the_engines_gradients():
    X, y = _data()
    model = _net(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
    report = gradient_flow(model, X, y, "cross_entropy")
    model.zero_grad()
    loss = nn.CrossEntropyLoss()(model(dp.tensor(X)), y)
    loss.backward()
    for name in ("0", "2"):
        layer = model[int(name)]
        got = report["layers"][name]
        assert got["grad_norm"] == pytest.approx(np.linalg.norm(layer.weight.grad.numpy()), 1e-6)
        assert got["bias_grad_norm"] == pytest.approx(np.linalg.norm(layer.bias.grad.numpy()), 1e-6)
        assert got["weight_norm"] == pytest.approx(np.linalg.norm(layer.weight.numpy()), 1e-6)
        assert got["nonfinite_weights"] == got["nonfinite_grads"] == 0
    assert report["loss"] == pytest.approx(float(loss.data), 1e-6)
    ratio = report["layers"]["0"]["grad_norm"] / report["layers"]["2"]["grad_norm"]
    assert report["first_last_ratio"] == pytest.approx(ratio)
    h = np.maximum(X @ model[0].weight.numpy() + model[0].bias.numpy(), 0)
    assert report["layers"]["0"]["activation"] == "relu"
    assert report["layers"]["0"]["act_mean"] == pytest.approx(h.mean(), 1e-5)
    assert report["layers"]["0"]["act_std"] == pytest.approx(h.std(), 1e-5)
    out = h @ model[2].weight.numpy() + model[2].bias.numpy()
    assert report["layers"]["2"]["activation"] is None
    assert report["layers"]["2"]["act_mean"] == pytest.approx(out.mean(), 1e-5)
    assert report["layers"]["2"]["dead_fraction"] is None


def test_dead_relu_fraction():
    X, y = _data()
    model = _net(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 3))
    model[0].bias.data[1] = -1e3  # unit 1 is zero on every row
    report = gradient_flow(model, X, y, nn.CrossEntropyLoss())
    assert report["layers"]["0"]["dead_fraction"] == 0.25
    assert report["layers"]["0"]["saturated_fraction"] is None


def test_saturated_tanh_and_sigmoid_fraction():
    X, y = _data()
    model = _net(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 5), nn.Sigmoid(), nn.Linear(5, 3))
    model[0].bias.data[:2] = [50.0, -50.0]  # two of four tanh units saturated on every row
    model[2].bias.data[0] = 50.0  # one of five sigmoid units
    report = gradient_flow(model, X, y, "cross_entropy")
    assert report["layers"]["0"]["saturated_fraction"] == 0.5
    assert report["layers"]["2"]["saturated_fraction"] == 0.2
    assert report["layers"]["0"]["activation"] == "tanh"
    assert report["layers"]["2"]["activation"] == "sigmoid"


def test_calling_it_changes_nothing():
    X, y = _data()
    model = _net(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Dropout(0.5), nn.Linear(6, 3))
    model.zero_grad()
    nn.CrossEntropyLoss()(model(dp.tensor(X)), y).backward()
    model.eval()
    model[1].train()  # a mixed state must come back as it was
    before = {k: v.copy() for k, v in model.state_dict().items()}
    grads = [p.grad for p in model.parameters()]
    grad_values = [g.numpy().copy() for g in grads]
    modes = [m.training for m in model.modules()]
    for mode in ("eval", "train"):
        gradient_flow(model, X, y, "cross_entropy", mode=mode)
        for k, v in model.state_dict().items():
            np.testing.assert_array_equal(v, before[k])
        for p, g, val in zip(model.parameters(), grads, grad_values):
            assert p.grad is g
            np.testing.assert_array_equal(p.grad.numpy(), val)
        assert [m.training for m in model.modules()] == modes


def test_other_models_get_parameter_figures_only():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 5)
            self.b = nn.Linear(5, 3)

        def forward(self, x):
            return self.b(self.a(x).relu())

    X, y = _data()
    dp.seed(0)
    report = gradient_flow(Net(), X, y, "cross_entropy")
    assert list(report["layers"]) == ["a", "b"]
    assert report["layers"]["a"]["grad_norm"] > 0
    assert report["layers"]["a"]["act_mean"] is None


def _deep(activation, init, depth=10, width=32):
    dp.seed(1)
    layers, d = [], 8
    for _ in range(depth):
        layers += [nn.Linear(d, width, init="he" if init == "small" else init), activation()]
        d = width
    model = nn.Sequential(*layers, nn.Linear(d, 3, init="he" if init == "small" else init))
    if init == "small":  # normal(0, 0.01), the classic vanishing setup
        rng = np.random.default_rng(2)
        for layer in model:
            if isinstance(layer, nn.Linear):
                layer.weight.data[...] = rng.normal(0, 0.01, layer.weight.shape)
    return model


def test_vanishing_sigmoid_net_against_relu_he_net():
    X, y = _data(n=64, d=8)
    sig = gradient_flow(_deep(nn.Sigmoid, "small"), X, y, "cross_entropy")
    relu = gradient_flow(_deep(nn.ReLU, "he"), X, y, "cross_entropy")
    assert sig["first_last_ratio"] < 1e-4
    assert 0.05 < relu["first_last_ratio"] < 20


def test_bad_arguments_name_the_argument():
    X, y = _data()
    model = _net(nn.Linear(4, 3))
    cases = [
        (dict(model="net"), "model"),
        (dict(loss=3), "loss"),
        (dict(y=y[:5]), "y"),
        (dict(mode="test"), "mode"),
        (dict(saturated_rows=1.5), "saturated_rows"),
        (dict(X=np.zeros((0, 4))), "X"),
    ]
    for change, name in cases:
        kwargs = {**dict(model=model, X=X, y=y, loss="cross_entropy"), **change}
        with pytest.raises(ConfigError, match=f"^{name}:"):
            gradient_flow(**kwargs)
    with pytest.raises(ConfigError, match="^model:"):
        gradient_flow(_net(nn.ReLU()), X, y, "cross_entropy")
    for kwargs, name in [
        (dict(every_n_steps=0), "every_n_steps"),
        (dict(every_n_steps=2.5), "every_n_steps"),
        (dict(every_n_steps=True), "every_n_steps"),
        (dict(X=X), "y"),
        (dict(y=y), "X"),
        (dict(X=X, y=y[:3]), "y"),
    ]:
        with pytest.raises(ConfigError, match=f"^{name}:"):
            dp.callbacks.GradientMonitor(**kwargs)
    with pytest.raises(ConfigError, match="^key:"):
        _fit_monitor(epochs=1).series("nope")


def _fit_monitor(epochs=3, **kwargs):
    X, y = _data(n=64)
    model = _net(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3))
    monitor = dp.callbacks.GradientMonitor(**kwargs)
    trainer = dp.Trainer(model, "cross_entropy", dp.optim.SGD(model.parameters(), lr=0.1),
                         callbacks=[monitor])  # fmt: skip
    history = trainer.fit(X, y, epochs=epochs, batch_size=16, verbose=False, seed=0)
    monitor.history = history
    return monitor


def test_monitor_records_one_entry_per_epoch():
    monitor = _fit_monitor()
    h = monitor.history.history
    assert len(monitor.records) == len(h["gradient_flow"]) == len(h["loss"]) == 3
    layers = ["0", "2", "4"]
    for record in h["gradient_flow"]:
        assert list(record["layers"]) == layers
        for stats in record["layers"].values():
            assert {"grad_norm", "weight_norm", "update_ratio"} <= set(stats)
            assert stats["grad_norm"] > 0 and 0 < stats["update_ratio"] < 1
    for key in ("grad_norm", "weight_norm", "update_ratio"):
        for name in layers:
            assert len(h[f"{key}/{name}"]) == 3
    series = monitor.series("grad_norm")
    assert list(series) == layers and all(len(v) == 3 for v in series.values())
    assert series["4"][-1] == h["grad_norm/4"][-1]
    assert len(monitor.series("first_last_ratio")["first/last"]) == 3
    table = monitor.table()
    for name in layers:
        assert any(line.split()[0] == name for line in table.splitlines())
    assert "update/weight" in table and "act mean" not in table  # no probe: no activations


def test_monitor_every_n_steps_and_probe():
    X, y = _data(n=20)
    monitor = _fit_monitor(epochs=2, every_n_steps=2, X=X, y=y)  # 4 steps per epoch
    assert len(monitor.records) == 4
    assert [r["step"] for r in monitor.records] == [2, 4, 6, 8]
    assert len(monitor.history.history["gradient_flow"]) == 2
    stats = monitor.records[-1]["layers"]
    assert stats["0"]["activation"] == "relu" and stats["2"]["activation"] == "tanh"
    assert stats["0"]["dead_fraction"] is not None and stats["2"]["saturated_fraction"] is not None
    assert all(len(v) == 4 for v in monitor.series("act_std").values())
    assert "act mean" in monitor.table() and "dead" in monitor.table()


def test_monitor_update_ratio_of_one_step_is_exact():
    X, y = _data(n=16)
    model = _net(nn.Linear(4, 3))
    w0 = model[0].weight.numpy().copy()
    monitor = dp.callbacks.GradientMonitor(every_n_steps=1)
    trainer = dp.Trainer(model, "cross_entropy", dp.optim.SGD(model.parameters(), lr=0.1),
                         callbacks=[monitor])  # fmt: skip
    trainer.fit(X, y, epochs=1, batch_size=16, verbose=False)
    w1 = model[0].weight.numpy()
    expected = np.linalg.norm(w1 - w0) / np.linalg.norm(w1)
    assert monitor.records[0]["layers"]["0"]["update_ratio"] == pytest.approx(expected, 1e-5)
    # SGD: the step is lr * grad
    grad = monitor.records[0]["layers"]["0"]["grad_norm"]
    assert np.linalg.norm(w1 - w0) == pytest.approx(0.1 * grad, 1e-4)
