"""A replayed step against the eager step: every layer and optimizer, 100 steps, the same
weights (bit for bit where no fusion reorders arithmetic, within 1e-6 relative with the SGD
fusion)."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, optim

RNG = np.random.default_rng(1)
X_DENSE = RNG.standard_normal((12, 6)).astype(np.float32)
Y_DENSE = RNG.integers(0, 3, 12)
X_IMAGE = RNG.standard_normal((4, 2, 6, 6)).astype(np.float32)
Y_IMAGE = RNG.integers(0, 3, 4)
X_INDEX = RNG.integers(0, 7, (12, 3)).astype(np.float32)

MODELS = {
    "relu": (lambda: nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)), "dense"),
    "activations": (
        lambda: nn.Sequential(
            nn.Linear(6, 8), nn.Sigmoid(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 8),
            nn.LeakyReLU(), nn.Linear(8, 8), nn.ELU(), nn.Linear(8, 8), nn.GELU(),
            nn.Linear(8, 3),
        ),
        "dense",
    ),
    "dropout_batchnorm": (
        lambda: nn.Sequential(
            nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 3)
        ),
        "dense",
    ),
    "layernorm": (
        lambda: nn.Sequential(nn.Linear(6, 8), nn.LayerNorm(8), nn.Tanh(), nn.Linear(8, 3)),
        "dense",
    ),
    "residual": (
        lambda: nn.Sequential(
            nn.Linear(6, 8),
            nn.Residual(nn.Sequential(nn.Linear(8, 8), nn.ReLU())),
            nn.Residual(nn.Sequential(nn.Linear(8, 4), nn.ReLU()), shortcut=nn.Linear(8, 4)),
            nn.Linear(4, 3),
        ),
        "dense",
    ),
    "cnn": (
        lambda: nn.Sequential(
            nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Residual(nn.Conv2d(3, 3, 3, padding=1)), nn.AvgPool2d(1),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 3),
        ),
        "image",
    ),
    "embedding": (
        lambda: nn.Sequential(nn.Embedding(7, 4), nn.Flatten(), nn.Linear(12, 3)), "index"
    ),
    # ReLU then max pooling: replayed as pooling then ReLU (program.py's _pool_before_relu)
    "cnn_relu_pool": (
        lambda: nn.Sequential(
            nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, stride=1),
            nn.Flatten(), nn.Linear(4 * 2 * 2, 3),
        ),
        "image",
    ),
}  # fmt: skip

OPTIMIZERS = {
    "sgd": lambda p: optim.SGD(p, lr=0.05),
    "momentum": lambda p: optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.1),
    "nesterov": lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam": lambda p: optim.Adam(p, lr=1e-2, amsgrad=True),
    "adamw": lambda p: optim.AdamW(p, lr=1e-2),
    "rmsprop": lambda p: optim.RMSprop(p, lr=1e-3, momentum=0.5, centered=True),
    "adagrad": lambda p: optim.Adagrad(p, lr=1e-2, lr_decay=1e-3),
}

DATA = {"dense": (X_DENSE, Y_DENSE), "image": (X_IMAGE, Y_IMAGE), "index": (X_INDEX, Y_DENSE)}


def pair(model_name: str, opt_name: str):
    """Two identical (model, optimizer) pairs."""
    make, _ = MODELS[model_name]
    out = []
    for _ in range(2):
        dp.seed(0)
        model = make()
        out.append((model, OPTIMIZERS[opt_name](model.parameters())))
    return out


def eager_steps(model, opt, X, y, steps):
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(dp.Tensor(X)), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.data))
    return losses


def lockstep(m1, o1, step, loss_fn, xb, yb) -> None:
    """One eager step of (m1, o1) and one compiled step on the same batch: the same loss."""
    o1.zero_grad()
    loss = loss_fn(m1(dp.Tensor(xb)), yb)
    loss.backward()
    o1.step()
    assert step(xb, yb) == float(loss.data)


def twins_in_lockstep(make, make_opt, loss_fn, X, y, steps: int):
    """Two copies of ``make()`` (the same seed), one eager, one compiled, ``steps`` steps in
    lockstep on (X, y): the same loss every step and the same state bit for bit at the end.
    Returns the compiled step."""
    models = []
    for _ in range(2):
        dp.seed(0)
        model = make()
        models.append((model, make_opt(model.parameters())))
    (m1, o1), (m2, o2) = models
    step = dp.compile_step(m2, loss_fn, o2)
    for _ in range(steps):
        lockstep(m1, o1, step, loss_fn, X, y)
    assert_same_state(m1, m2, exact=True)
    return step


def assert_same_state(a, b, exact: bool):
    for (name, u), (_, v) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        u, v = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
        if exact:
            np.testing.assert_array_equal(u, v, err_msg=name)
        else:
            scale = max(np.linalg.norm(u), 1e-30)
            assert np.linalg.norm(u - v) / scale <= 1e-6, name


CASES = (
    [(m, o) for m in MODELS for o in ("momentum", "adam")]
    + [("relu", o) for o in OPTIMIZERS if o not in ("momentum", "adam")]
    + [("dropout_batchnorm", o) for o in ("nesterov", "adamw", "rmsprop", "adagrad")]
)


@pytest.mark.parametrize("model_name, opt_name", CASES)
def test_replay_matches_eager_bit_for_bit(model_name, opt_name):
    (m1, o1), (m2, o2) = pair(model_name, opt_name)
    X, y = DATA[MODELS[model_name][1]]
    steps = 100
    dp.seed(5)  # dropout masks: the compiled step must draw the same stream
    eager = eager_steps(m1, o1, X, y, steps)
    step = dp.compile_step(m2, nn.CrossEntropyLoss(), o2, fuse_update=False)
    dp.seed(5)
    compiled = [step(X, y) for _ in range(steps)]
    assert step.fallback is None
    assert (step.recordings, step.replays) == (1, steps - 1)
    assert compiled == eager
    assert_same_state(m1, m2, exact=True)
    # the optimizer state too (moments, momentum buffers, step counts)
    s1, s2 = o1.state_dict(), o2.state_dict()
    assert s1["param_groups"] == s2["param_groups"]
    for key, entry in s1["state"].items():
        for name, value in entry.items():
            np.testing.assert_array_equal(value, s2["state"][key][name])


def test_sgd_fusion_updates_weights_inside_the_gemm(monkeypatch):
    """Plain SGD: W -= lr x^T g in one gemm; within 1e-6 of eager after 100 steps. (Forced
    on: it is off where NumPy and SciPy bundle two BLAS libraries, as pip's wheels do.)"""
    monkeypatch.setattr("deltaprop.compile.dense._ONE_BLAS", [True])
    (m1, o1), (m2, o2) = pair("relu", "sgd")
    eager_steps(m1, o1, X_DENSE, Y_DENSE, 100)
    step = dp.compile_step(m2, nn.CrossEntropyLoss(), o2)
    for _ in range(100):
        step(X_DENSE, Y_DENSE)
    assert_same_state(m1, m2, exact=False)
    assert "alpha=-lr, beta=1" in step.describe()
    assert m2[0].weight.grad is None and m2[0].bias.grad is None  # never stored
    # the bias folded into the GEMM: one update for both (compile/fusion.py)
    assert "[0.weight; 0.bias] -= lr * [x, 1].T @ dh1" in step.describe()
    # a momentum set later turns the fusion off on the next step, and momentum is honoured
    o1.param_groups[0]["momentum"] = o2.param_groups[0]["momentum"] = 0.9
    eager_steps(m1, o1, X_DENSE, Y_DENSE, 5)
    for _ in range(5):
        step(X_DENSE, Y_DENSE)
    assert m2[0].weight.grad is not None
    assert_same_state(m1, m2, exact=False)


def test_mse_and_float_targets():
    X = X_DENSE
    y = (X[:, :2] * 2.0).astype(np.float32)
    model = lambda: nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 2))  # noqa: E731
    twins_in_lockstep(model, lambda p: optim.Adam(p, lr=1e-2), nn.MSELoss(), X, y, 50)


def test_gradients_are_the_eager_gradients():
    """After a replayed backward each parameter's .grad holds what eager backward gives."""
    (m1, o1), (m2, o2) = pair("dropout_batchnorm", "momentum")
    step = dp.compile_step(m2, nn.CrossEntropyLoss(), o2)
    dp.seed(3)
    eager_steps(m1, o1, X_DENSE, Y_DENSE, 2)
    dp.seed(3)
    step(X_DENSE, Y_DENSE)
    step(X_DENSE, Y_DENSE)  # a replay
    for (name, p), q in zip(m1.named_parameters(), m2.parameters(), strict=True):
        np.testing.assert_array_equal(p.grad.data, q.grad.data, err_msg=name)


def test_sgd_fusion_with_two_blas_libraries_is_numpy_s(monkeypatch):
    # NumPy's and SciPy's own OpenBLAS builds, each spinning a thread per core, slowed a
    # compiled epoch 12x: no SciPy gemm then. NumPy fuses instead: lr scales the smaller
    # operand of x^T g (x for Linear(6, 8), the gradient for Linear(8, 3)), then W -= x^T g'.
    from deltaprop.compile import dense

    monkeypatch.setattr(dense, "_ONE_BLAS", [False])
    (m1, o1), (m2, o2) = pair("relu", "sgd")
    step = dp.compile_step(m2, nn.CrossEntropyLoss(), o2)
    eager_steps(m1, o1, X_DENSE, Y_DENSE, 100)
    for _ in range(100):
        step(X_DENSE, Y_DENSE)
    text = step.describe()
    assert "alpha=-lr, beta=1" not in text
    assert "lr scales x first)" in text and "lr scales the gradient first)" in text
    assert m2[0].weight.grad is None and m2[2].weight.grad is None  # never stored
    assert_same_state(m1, m2, exact=False)
    # without the fusion (fuse_update=False) the replay is eager's, bit for bit
    (m1, o1), (m2, o2) = pair("relu", "sgd")
    step = dp.compile_step(m2, nn.CrossEntropyLoss(), o2, fuse_update=False)
    eager_steps(m1, o1, X_DENSE, Y_DENSE, 20)
    for _ in range(20):
        step(X_DENSE, Y_DENSE)
    assert m2[0].weight.grad is not None
    assert_same_state(m1, m2, exact=True)


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_freezing_and_unfreezing_between_steps_is_followed(opt_name, monkeypatch):
    # GradualUnfreezing changes requires_grad between epochs: a frozen layer must not move,
    # and an unfrozen one must train, exactly as in eager (fusion forced on where it exists).
    monkeypatch.setattr("deltaprop.compile.dense._ONE_BLAS", [True])
    (m1, o1), (m2, o2) = pair("relu", opt_name)
    step = dp.compile_step(m2, nn.CrossEntropyLoss(), o2)
    for m in (m1, m2):
        m.freeze("0")
    frozen = m2[0].weight.data.copy()
    eager_steps(m1, o1, X_DENSE, Y_DENSE, 5)
    for _ in range(5):
        step(X_DENSE, Y_DENSE)
    np.testing.assert_array_equal(m2[0].weight.data, frozen)
    for m in (m1, m2):
        m.unfreeze()
    eager_steps(m1, o1, X_DENSE, Y_DENSE, 5)
    for _ in range(5):
        step(X_DENSE, Y_DENSE)
    assert not np.array_equal(m2[0].weight.data, frozen)
    assert_same_state(m1, m2, exact=False)


def test_relu_then_max_pool_replays_as_pool_then_relu():
    (m1, o1), (m2, o2) = pair("cnn_relu_pool", "momentum")
    step = dp.compile_step(m2, nn.CrossEntropyLoss(), o2)
    step(X_IMAGE, Y_IMAGE)
    (prog,) = step._programs.values()
    ops = [k.op for k in prog.kernels]
    assert ops[:7] == ["Conv2d", "MaxPool2d", "relu", "Conv2d", "MaxPool2d", "relu", "Reshape"]
    relu = prog.kernels[2]
    assert relu.mask.shape == prog.vals[relu.out].shape == (X_IMAGE.shape[0], 4, 3, 3)
    # a ReLU whose output is read by more than the pooling keeps its place
    dp.seed(0)
    branch = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(),
        nn.Residual(nn.MaxPool2d(3, stride=1, padding=1)), nn.Flatten(), nn.Linear(4 * 6 * 6, 3),
    )  # fmt: skip
    step = dp.compile_step(branch, nn.CrossEntropyLoss(), optim.SGD(branch.parameters(), lr=0.1))
    step(X_IMAGE, Y_IMAGE)
    (prog,) = step._programs.values()
    assert [k.op for k in prog.kernels][:3] == ["Conv2d", "relu", "MaxPool2d"]


def test_a_batchnorm2d_momentum_edited_mid_run_is_followed_by_the_replay():
    # 4-D batch norm replays the op's own code; the hook hands it the layer's momentum at
    # every step (it used to keep the recorded one unless the momentum was None)
    runs = []
    for compiled in (False, True):
        dp.seed(0)
        model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.Flatten(),
                              nn.Linear(3 * 6 * 6, 3))  # fmt: skip
        opt = optim.SGD(model.parameters(), lr=0.05)
        step = dp.compile_step(model, nn.CrossEntropyLoss(), opt, fuse_update=False)
        for k in range(8):
            if k == 4:
                model[1].momentum = 0.7
            if compiled:
                step(X_IMAGE, Y_IMAGE)
            else:
                eager_steps(model, opt, X_IMAGE, Y_IMAGE, 1)
        runs.append(model)
    assert_same_state(runs[0], runs[1], exact=True)  # running statistics included


def test_a_wide_layer_s_input_gradient_by_transpose_replays_eager_s():
    """At 16 rows a 256-wide layer's dx runs as (W g^T)^T (ops.linalg.dx_by_transpose), in
    eager and replayed alike: the replay stays eager's, bit for bit."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((16, 20)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    model = lambda: nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 256),  # noqa: E731
                                  nn.ReLU(), nn.Linear(256, 3))  # fmt: skip
    step = twins_in_lockstep(model, OPTIMIZERS["momentum"], nn.CrossEntropyLoss(), X, y, 30)
    text = step.describe()
    assert text.count("[faster for 16 rows]") == 1, text  # the 256x256 layer only
