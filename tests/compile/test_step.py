"""CompiledStep's behaviour: what a recording follows or invalidates, the eager fallback,
describe(), and bad arguments."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, optim
from deltaprop.autograd.tensor import Tensor
from deltaprop.report import DeltapropWarning

from .test_replay import X_DENSE, Y_DENSE, assert_same_state, eager_steps, pair


def compiled(name="relu", opt="momentum", fuse=False):
    (m1, o1), (m2, o2) = pair(name, opt)
    return m1, o1, m2, o2, dp.compile_step(m2, nn.CrossEntropyLoss(), o2, fuse_update=fuse)


def test_lr_schedule_and_edited_groups_are_followed():
    m1, o1, m2, o2, step = compiled()
    for lr, momentum in ((0.05, 0.9), (0.01, 0.9), (0.01, 0.0), (0.2, 0.5)):
        for o in (o1, o2):
            o.param_groups[0]["lr"] = lr
            o.param_groups[0]["momentum"] = momentum
        eager_steps(m1, o1, X_DENSE, Y_DENSE, 3)
        for _ in range(3):
            step(X_DENSE, Y_DENSE)
    assert step.recordings == 1
    assert_same_state(m1, m2, exact=True)


def test_replaced_parameters_are_recorded_again():
    m1, o1, m2, o2, step = compiled()
    for _ in range(3):
        step(X_DENSE, Y_DENSE)
    state = {k: v * 0.5 for k, v in m2.state_dict().items()}
    m2.load_state_dict(state)  # rebinds every parameter's array
    m1.load_state_dict(state)
    o1.load_state_dict(o2.state_dict())
    eager_steps(m1, o1, X_DENSE, Y_DENSE, 3)
    for _ in range(3):
        step(X_DENSE, Y_DENSE)
    assert step.recordings == 2
    assert_same_state(m1, m2, exact=True)


def test_modes_and_batch_shapes_get_their_own_recordings():
    m1, o1, m2, o2, step = compiled("dropout_batchnorm", "adam")
    dp.seed(2)
    for m, run in ((m1, None), (m2, step)):
        dp.seed(2)
        for mode, rows in ((True, 12), (True, 5), (False, 12), (True, 12), (False, 12)):
            m.train(mode)
            if run is None:
                eager_steps(m, o1, X_DENSE[:rows], Y_DENSE[:rows], 2)
            else:
                for _ in range(2):
                    run(X_DENSE[:rows], Y_DENSE[:rows])
    assert step.recordings == 3 and step.replays == 7
    assert_same_state(m1, m2, exact=True)
    assert "eval mode" in step.describe() and "train mode" in step.describe()


class Branchy(nn.Module):
    """A Python branch on a tensor's value: cannot be recorded."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        h = self.fc(x)
        return h * 2.0 if h.sum().item() > 0 else h


class Masked(nn.Module):
    """An op without a recording rule (where, from a comparison)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        h = self.fc(x)
        return dp.ops.where(np.ones(h.shape, bool), h, h)


class FromData(nn.Module):
    """Reads .data in Python and feeds it back: a constant shaped like the batch."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        h = self.fc(x)
        return h + Tensor(np.abs(h.data))


@pytest.mark.parametrize(
    "module, words",
    [(Branchy, ".item()"), (Masked, "Where"), (FromData, "shaped like the batch")],
)
def test_unrecordable_forward_trains_eagerly_after_one_warning(module, words):
    models = []
    for _ in range(2):
        dp.seed(0)
        m = module()
        models.append((m, optim.SGD(m.parameters(), lr=0.1)))
    (m1, o1), (m2, o2) = models
    eager_steps(m1, o1, X_DENSE, Y_DENSE, 4)
    step = dp.compile_step(m2, nn.CrossEntropyLoss(), o2)
    with pytest.warns(DeltapropWarning, match="cannot record") as caught:
        step(X_DENSE, Y_DENSE)
    assert words in str(caught[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once only
        for _ in range(3):
            step(X_DENSE, Y_DENSE)
    assert step.fallback is not None and step.replays == 0
    assert words in step.describe()
    assert_same_state(m1, m2, exact=True)


def test_describe_linear_relu_cross_entropy(monkeypatch):
    monkeypatch.setattr("deltaprop.compile.dense._ONE_BLAS", [True])  # the fused update shown
    dp.seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    step = dp.compile_step(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1))
    assert "nothing recorded" in step.describe()
    step(X_DENSE, Y_DENSE)
    text = step.describe()
    for line in (  # plain SGD: the biases folded into the GEMMs (compile/fusion.py)
        "h1 = dot([x, 1], [0.weight; 0.bias])  [bias folded into the GEMM]",
        "h2 = relu(h1)  [into the next layer's [x, 1]]",
        "dh3 = (e / s - onehot(y)) / 12  [in place in e]",
        "dh1 = dh2 * (h2 > 0)",
        "[0.weight; 0.bias] -= lr * [x, 1].T @ dh1 (both at once; one gemm, alpha=-lr, beta=1)",
    ):
        assert line in text, text
    # with momentum, nothing is folded: the forward adds the bias, ReLU overwrites h1
    dp.seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    step = dp.compile_step(model, nn.CrossEntropyLoss(), opt)
    step(X_DENSE, Y_DENSE)
    text = step.describe()
    for line in (
        "h1 = dot(x, 0.weight); h1 += 0.bias",
        "h2 = relu(h1)  [in place in h1's buffer]",
        "d0.weight = dot(x.T, dh1); d0.bias = sum_rows(dh1)",
    ):
        assert line in text, text


def test_bad_arguments():
    dp.seed(0)
    model = nn.Sequential(nn.Linear(6, 3))
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(dp.ConfigError, match="model"):
        dp.compile_step("net", nn.CrossEntropyLoss(), opt)
    with pytest.raises(dp.ConfigError, match="loss_fn"):
        dp.compile_step(model, 3, opt)
    with pytest.raises(dp.ConfigError, match="optimizer"):
        dp.compile_step(model, nn.CrossEntropyLoss(), "sgd")
    step = dp.compile_step(model, nn.CrossEntropyLoss(), opt)
    with pytest.raises(dp.ShapeError, match="xb, yb"):
        step(X_DENSE, Y_DENSE[:5])
    with pytest.raises(dp.DataError, match="xb"):
        step(np.array(["a", "b"]), Y_DENSE[:2])
    with pytest.raises(dp.DataError, match="yb"):
        step(X_DENSE, 3)
    before = model[0].weight.data.copy()
    with pytest.raises(dp.DataError, match="class labels"):
        step(X_DENSE, Y_DENSE + 10)  # recorded eagerly: the op's own check
    np.testing.assert_array_equal(model[0].weight.data, before)


def test_float64_batches_are_taken_in_the_model_dtype():
    m1, o1, m2, o2, step = compiled()
    eager_steps(m1, o1, X_DENSE, Y_DENSE, 3)
    for _ in range(3):
        step(X_DENSE.astype(np.float64), Y_DENSE)
    assert_same_state(m1, m2, exact=True)


def test_the_guard_lets_only_a_batch_the_last_recording_fits_skip_the_checks():
    from deltaprop import backend

    dp.seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
    step = dp.compile_step(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1))
    dtype = backend.default_dtype()
    x = np.ones((6, 4), dtype=dtype)
    y = np.arange(6) % 3
    step(x, y)
    assert step._fast is None  # recorded: the next step chooses through the key
    step(x, y)
    guard = step._fast[0]
    assert guard(x, y) and guard(x + 1, y)
    assert not guard(x[:5], y[:5])  # another shape
    assert not guard(x.astype(np.float64 if dtype == np.float32 else np.float32), y)
    assert not guard(dp.Tensor(x), y) and not guard(x.tolist(), y)
    model.eval()  # a mode: the tree version moves
    assert not guard(x, y)
    model.train()
    step(x, y)  # chosen again through the key: the guard holds again
    assert step._fast[0](x, y)
    model[0].weight.requires_grad = False
    assert not step._fast[0](x, y)
    model[0].weight.requires_grad = True
    assert step._fast[0](x, y)
    model.load_state_dict({k: v.copy() for k, v in model.state_dict().items()})
    assert not step._fast[0](x, y)
    before = step.recordings
    step(x, y)  # new arrays: recorded again, and the loss is still the eager step's
    assert step.recordings == before + 1


@pytest.mark.parametrize("rows", [1, 12])
@pytest.mark.parametrize("label", [-1, 3])
def test_labels_out_of_range_are_refused_by_the_replay_as_by_eager(rows, label):
    """After the recording, a label outside 0..C-1 raises eager's DataError (a -1 once
    trained on the last class silently), and no parameter changes."""
    dp.seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    step = dp.compile_step(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1))
    xb, yb = X_DENSE[:rows], Y_DENSE[:rows].copy()
    step(xb, yb)
    step(xb, yb)
    before = [p.data.copy() for p in model.parameters()]
    yb[-1] = label
    with pytest.raises(dp.DataError, match=r"target: expected class labels in 0\.\.2"):
        step(xb, yb)
    for p, b in zip(model.parameters(), before, strict=True):
        np.testing.assert_array_equal(p.data, b)
    assert step.replays == 2  # the refused batch was a replay, not a new recording


def test_a_model_of_two_dtypes_trains_eagerly_after_one_warning():
    """A float64 layer after float32 ones: eager promotes, the replay's buffers hold one dtype
    each (it used to fail in the backward of its first replay), so the step trains eagerly."""
    (m1, o1), (m2, o2) = pair("relu", "momentum")
    for m in (m1, m2):
        for p in m[2].parameters():
            p.data = p.data.astype(np.float64)
    step = dp.compile_step(m2, nn.CrossEntropyLoss(), o2)
    with pytest.warns(DeltapropWarning, match="Linear: a float32 input gives a float64 output"):
        step(X_DENSE, Y_DENSE)
    for _ in range(4):
        step(X_DENSE, Y_DENSE)
    eager_steps(m1, o1, X_DENSE, Y_DENSE, 5)
    assert step.fallback is not None and step.replays == 0
    assert_same_state(m1, m2, exact=True)
