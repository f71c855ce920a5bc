"""The batch-norm buffer kernel (compile/norm.py) against the eager op: weights, running
statistics and batch counts bit for bit over many replayed steps, in every mode it covers;
the op's own code where it does not."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, ops, optim
from deltaprop.compile.generic import FunctionKernel
from deltaprop.compile.norm import BatchNormKernel

RNG = np.random.default_rng(7)
X = RNG.standard_normal((10, 5))
Y = RNG.integers(0, 3, 10)
X3 = RNG.standard_normal((10, 4, 3))  # (N, C, L)

OPTS = {
    "sgd": lambda p: optim.SGD(p, lr=0.05, momentum=0.9),
    "adam": lambda p: optim.Adam(p, lr=1e-2),
}


def bn_model(dtype, head=nn.ReLU, **bn):
    return nn.Sequential(
        nn.Linear(5, 6, dtype=dtype), nn.BatchNorm1d(6, dtype=dtype, **bn), head(),
        nn.Dropout(0.25), nn.Linear(6, 3, dtype=dtype),
    )  # fmt: skip


def run_pair(make, opt, x, y=Y, steps=25, train=True, freeze=None):
    """(eager model, compiled model, step, eager losses, compiled losses) after ``steps``."""
    runs = []
    for compiled in (False, True):
        dp.seed(0)
        model = make()
        model.train(train)
        if freeze is not None:
            freeze(model)
        o = OPTS[opt]([p for p in model.parameters() if p.requires_grad])
        loss_fn = nn.CrossEntropyLoss()
        step = dp.compile_step(model, loss_fn, o, fuse_update=False) if compiled else None
        dtype = next(iter(model.parameters())).data.dtype
        xb = x.astype(dtype)
        dp.seed(5)  # the dropout masks: one stream for both
        losses = []
        for _ in range(steps):
            if compiled:
                losses.append(step(xb, y))
                continue
            o.zero_grad()
            loss = loss_fn(model(dp.Tensor(xb, dtype=xb.dtype.name)), y)
            loss.backward()
            o.step()
            losses.append(float(loss.data))
        runs.append((model, step, losses))
    (m1, _, l1), (m2, step, l2) = runs
    assert step.fallback is None and step.replays == steps - 1
    return m1, m2, step, l1, l2


def assert_bitwise(m1, m2, l1, l2):
    assert l1 == l2
    for (name, a), b in zip(m1.state_dict().items(), m2.state_dict().values(), strict=True):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype, name
        assert np.array_equal(a, b), name
        assert np.array_equal(np.signbit(a), np.signbit(b)), name  # -0.0 too


def kernels(step):
    (prog,) = step._programs.values()
    return prog.kernels


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("opt", ["sgd", "adam"])
@pytest.mark.parametrize(
    "bn",
    [{}, {"affine": False}, {"momentum": None}, {"momentum": None, "affine": False},
     {"track_running_stats": False}, {"momentum": 1.0}, {"momentum": 0.0}],
)  # fmt: skip
def test_training_replay_is_the_eager_op_bit_for_bit(dtype, opt, bn):
    m1, m2, step, l1, l2 = run_pair(lambda: bn_model(dtype, **bn), opt, X)
    assert_bitwise(m1, m2, l1, l2)
    assert isinstance(kernels(step)[1], BatchNormKernel)
    if bn.get("track_running_stats", True):
        assert int(m2[1].num_batches_tracked.data) == 25


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "bn", [{}, {"affine": False}, {"track_running_stats": False}, {"momentum": None}]
)
def test_eval_mode_replay_is_the_eager_op_bit_for_bit(dtype, bn):
    def make():
        model = bn_model(dtype, **bn)
        # running statistics away from (0, 1), so that eval's arithmetic is exercised
        if model[1].running_mean is not None:
            model[1].running_mean.data[:] = np.linspace(-0.5, 0.5, 6)
            model[1].running_var.data[:] = np.linspace(0.5, 2.0, 6)
        return model

    m1, m2, step, l1, l2 = run_pair(make, "adam", X, train=False)
    assert_bitwise(m1, m2, l1, l2)
    kernel = kernels(step)[1]
    assert isinstance(kernel, BatchNormKernel)
    assert kernel.training == (not bn.get("track_running_stats", True))


def test_a_gradient_the_kernel_may_not_overwrite_and_frozen_parameters():
    # LeakyReLU runs its own code: its gradient is not the kernel's to overwrite
    m1, m2, step, l1, l2 = run_pair(lambda: bn_model("float64", nn.LeakyReLU), "sgd", X)
    assert_bitwise(m1, m2, l1, l2)

    def freeze(model):  # gamma frozen: no dgamma, still dx and dbeta
        model[1].weight.requires_grad = False

    m1, m2, step, l1, l2 = run_pair(lambda: bn_model("float32"), "adam", X, freeze=freeze)
    assert_bitwise(m1, m2, l1, l2)
    assert m2[1].weight.grad is None and m2[1].bias.grad is not None


@pytest.mark.parametrize("train", [True, False])
def test_three_d_input_straight_from_the_batch(train):
    """(N, C, L) statistics over (N, L); x is the batch, which needs no gradient."""

    def make():
        model = nn.Sequential(nn.BatchNorm1d(4, dtype="float64"), nn.Flatten(),
                              nn.Linear(12, 3, dtype="float64"))  # fmt: skip
        model[0].running_var.data[:] = [0.5, 1.0, 1.5, 2.0]
        return model

    m1, m2, step, l1, l2 = run_pair(make, "adam", X3, train=train)
    assert_bitwise(m1, m2, l1, l2)
    assert isinstance(kernels(step)[0], BatchNormKernel)


class Functional(nn.Module):
    """batch_norm called as a function, with no running statistics."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 6, dtype="float64")
        self.gamma = nn.Parameter(np.full(6, 1.5))
        self.out = nn.Linear(6, 3, dtype="float64")

    def forward(self, x):
        return self.out(ops.relu(ops.batch_norm(self.fc(x), self.gamma, None, eps=1e-3)))


def test_functional_call_without_running_statistics():
    m1, m2, step, l1, l2 = run_pair(Functional, "sgd", X)
    assert_bitwise(m1, m2, l1, l2)
    assert isinstance(kernels(step)[1], BatchNormKernel)


def test_layer_changes_between_replays_are_followed():
    """momentum edited, then None; running statistics given new arrays (not parameters, so
    the recording stays valid): each replay reads them from the layer, as eager does."""
    models = []
    for compiled in (False, True):
        dp.seed(0)
        model = bn_model("float32")
        o = optim.SGD(model.parameters(), lr=0.05)
        step = dp.compile_step(model, nn.CrossEntropyLoss(), o, fuse_update=False)
        xb = X.astype(np.float32)
        dp.seed(5)
        for k in range(12):
            bn = model[1]
            if k == 4:
                bn.momentum = 0.5
            if k == 7:
                bn.momentum = None
            if k == 9:
                bn.running_mean.data = bn.running_mean.data + 1.0
                bn.running_var.data = bn.running_var.data * 2.0
            one_step(step if compiled else None, model, o, xb)
        models.append((model, step))
    (m1, _), (m2, step) = models
    assert step.recordings == 1
    assert_bitwise(m1, m2, [], [])


def one_step(step, model, o, xb):
    """A step of ``step`` (compiled) or, when it is None, of the eager loop, on (xb, Y)."""
    if step is not None:
        step(xb, Y)
        return
    o.zero_grad()
    nn.CrossEntropyLoss()(model(dp.Tensor(xb)), Y).backward()
    o.step()


def test_a_fortran_ordered_batch_is_normalized_to_rounding():
    """Recorded on a C-ordered batch, replayed on the same numbers in Fortran order: the
    statistics are summed in another order than eager's, so equal to 1e-6, not bit for bit."""

    def make():
        return nn.Sequential(nn.BatchNorm1d(5), nn.Linear(5, 3))

    models = []
    for compiled in (False, True):
        dp.seed(0)
        model = make()
        o = optim.Adam(model.parameters(), lr=1e-2)
        step = dp.compile_step(model, nn.CrossEntropyLoss(), o)
        xb = X.astype(np.float32)
        for k in range(10):
            batch = xb if k == 0 else np.asfortranarray(xb)
            one_step(step if compiled else None, model, o, batch)
        models.append((model, step))
    (m1, _), (m2, step) = models
    assert step.replays == 9
    for (name, a), b in zip(m1.state_dict().items(), m2.state_dict().values(), strict=True):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        assert np.linalg.norm(a - b) <= 1e-6 * max(np.linalg.norm(a), 1e-30), name


def test_images_and_other_layouts_keep_the_op_s_own_code():
    x4 = RNG.standard_normal((4, 2, 3, 3))
    dp.seed(0)
    model = nn.Sequential(nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(18, 3))
    step = dp.compile_step(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1))
    for _ in range(2):
        step(x4.astype(np.float32), Y[:4])
    assert isinstance(kernels(step)[0], FunctionKernel)
    assert "[the op's own code]" in step.describe()
    # a batch recorded in Fortran order: the op's own code too
    dp.seed(0)
    model = nn.Sequential(nn.BatchNorm1d(5), nn.Linear(5, 3))
    step = dp.compile_step(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1))
    step(np.asfortranarray(X.astype(np.float32)), Y)
    assert isinstance(kernels(step)[0], FunctionKernel)


def test_source_and_describe_show_the_lines():
    m1, m2, step, l1, l2 = run_pair(lambda: bn_model("float32"), "sgd", X, steps=2)
    source, text = step.source(), step.describe()
    for line in (
        "add_reduce(v8, k1_axes, None, k1_mean, True)",
        "divide(k1_mean, k1_count, k1_mean, casting='unsafe')",
        "multiply(k1_rm, 1.0 - k1_mom, k1_rm)",
        "add(k1_rv, multiply(k1_mom * 10 / (10 - 1), k1_var0, k1_r), k1_rv)",
        "g8 = multiply(k1_scale, g9, g9)",  # dx in the incoming gradient's buffer
        "g4 = k1_sgx0",
    ):
        assert line in source, line
    assert "k1.forward(vals)" not in source  # no call of the op's own code
    assert "h2 = (h1 - mean) / sqrt(var + eps) * 1.weight + 1.bias" in text
    assert "running stats updated; buffers" in text
    assert "grad of batch_norm -> dh1, d1.weight, d1.bias  [buffers]" in text


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_trainer_compile_with_dropout_is_the_eager_fit(opt):
    Xt = RNG.standard_normal((40, 5)).astype(np.float32)
    Yt = (Xt[:, 0] > 0).astype(np.int64)
    states = []
    for compile in (False, True):
        dp.seed(0)
        model = bn_model("float32", momentum=None)
        trainer = dp.Trainer(model, nn.CrossEntropyLoss(), OPTS[opt](model.parameters()),
                             compile=compile)  # fmt: skip
        history = trainer.fit(Xt, Yt, epochs=3, batch_size=16, seed=1, verbose=False)
        states.append((model, history.history["loss"]))
        if compile:
            assert trainer._compiled.fallback is None and trainer._compiled.replays > 0
            assert any(isinstance(k, BatchNormKernel) for k in kernels_all(trainer._compiled))
    (m1, h1), (m2, h2) = states
    assert_bitwise(m1, m2, h1, h2)


def kernels_all(step):
    return [k for prog in step._programs.values() for k in prog.kernels]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dropout_mask_in_the_draws_buffer_is_eager_s_mask(dtype):
    """The dropout kernel writes the comparison into the draws' buffer and scales it there:
    the same outputs as eager's ``(r >= p) * scale``, the signs of dropped negatives too."""
    outs = []
    for compiled in (False, True):
        dp.seed(0)
        model = nn.Sequential(nn.Linear(5, 7, dtype=dtype), nn.Dropout(0.4),
                              nn.Linear(7, 3, dtype=dtype))  # fmt: skip
        o = optim.SGD(model.parameters(), lr=0.1)
        step = dp.compile_step(model, nn.CrossEntropyLoss(), o, fuse_update=False)
        xb = X.astype(dtype)
        dp.seed(9)
        seen = []
        for _ in range(6):
            if compiled:
                step.forward(xb, Y)
                if step.replays:  # the dropout's output buffer (the first step is eager)
                    seen.append(step._current.vals[step._current.kernels[1].out].copy())
                step.backward()
                step.update()
            else:
                o.zero_grad()
                h = model[1](model[0](dp.Tensor(xb, dtype=dtype)))
                seen.append(h.data.copy())
                nn.CrossEntropyLoss()(model[2](h), Y).backward()
                o.step()
        outs.append((model, seen, step))
    (m1, s1, _), (m2, s2, step) = outs
    kernel = kernels(step)[1]
    assert kernel.mask is kernel.r  # no boolean array, no second mask
    for a, b in zip(s1[1:], s2, strict=True):
        assert np.array_equal(a, b) and np.array_equal(np.signbit(a), np.signbit(b))
    assert any(np.signbit(a[a == 0]).any() for a in s1)  # dropped negatives: -0.0
    assert_bitwise(m1, m2, [], [])
    source = step.source()
    assert "greater_equal(k1_r, k1_p, k1_mask)" in source
    assert "multiply(k1_mask, k1_scale, k1_mask)" in source


@pytest.mark.parametrize("affine", [True, False])
def test_relu_after_batch_norm_overwrites_its_output_only_with_gamma_or_beta(affine):
    # with gamma/beta the backward reads x_hat, not the output; without, they are one buffer
    m1, m2, step, l1, l2 = run_pair(lambda: bn_model("float64", affine=affine), "adam", X)
    assert_bitwise(m1, m2, l1, l2)
    relu = next(k for k in kernels(step) if k.op == "relu")
    assert relu.inplace is affine
