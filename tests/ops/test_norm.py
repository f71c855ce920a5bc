"""batch_norm and layer_norm: float64 gradient checks, PyTorch parity (outputs, every gradient,
the running statistics over several steps, eval mode), the memo, and bad input.

A worked example (one channel, batch [1, 3], eps = 0): mean 2, biased variance 1, so
x_hat = [-1, 1]; the running variance tracks the unbiased variance 2, so after one step
with momentum 0.5 it is 0.5 * 1 + 0.5 * 2 = 1.5 and the running mean is 0.5 * 0 + 0.5 * 2 = 1.

The two ops are re-exported from deltaprop.ops but not yet listed in its __all__:
test_op_table requires a case in its table for every name there, and their checks live here
(running statistics and train/eval do not fit the table's one-expression form).
"""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import ops
from deltaprop.autograd import gradcheck_errors
from deltaprop.errors import ConfigError, ShapeError
from deltaprop.ops import norm

TOL = 1e-6

# (x shape, whether gamma, whether beta, whether x needs a gradient). (1, 2, 3): one sample is
# fine when L > 1 (three values per channel). Two values per channel are left to the parity
# test: x_hat is then +-1 whatever x is, so dL/dx is pure eps-sized noise to finite differences.
BN_CASES = [
    ((4, 3), True, True, True),
    ((5, 2), False, False, True),
    ((3, 1), True, True, True),
    ((3, 2, 4), True, True, True),
    ((2, 3, 2), False, False, True),
    ((1, 2, 3), True, True, True),
    ((6, 1, 2), True, False, True),
    ((3, 2), False, True, True),
    ((4, 3), True, True, False),  # a data batch: only gamma and beta get gradients
    ((2, 2, 3), True, True, False),
]
BN_PARITY = BN_CASES + [((2, 1), True, True, True), ((2, 4, 1), False, True, True)]
LN_CASES = [
    ((3, 4), 4, True, True, True),
    ((2, 3, 4), (3, 4), True, True, True),
    ((5,), 5, True, True, True),
    ((2, 1, 3), 3, False, False, True),
    ((4, 2), (4, 2), True, True, True),
    ((3, 4), 4, True, False, True),
    ((2, 3), 3, False, True, True),
    ((3, 4), 4, True, True, False),
    ((2, 2, 3), 3, True, True, True),
]


def t64(a, grad=True):
    return dp.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad, dtype=np.float64)


def draw(shape, rng, offset=0.0):
    return offset + rng.standard_normal(shape)


def affine_inputs(rng, n, has_gamma, has_beta, grad=True):
    gamma = t64(rng.uniform(0.5, 2.0, n) * rng.choice([-1, 1], n), grad) if has_gamma else None
    beta = t64(rng.standard_normal(n), grad) if has_beta else None
    return gamma, beta


def checked_errors(fn, x, gamma, beta, seed):
    inputs = [t for t in (x, gamma, beta) if t is not None]

    def call(*ts):
        it = iter(ts)
        return fn(
            next(it),
            next(it) if gamma is not None else None,
            next(it) if beta is not None else None,
        )

    return [e for e, t in zip(gradcheck_errors(call, inputs, seed=seed), inputs) if t.requires_grad]


# --- finite differences -------------------------------------------------------------------------


@pytest.mark.parametrize("case", BN_CASES, ids=str)
def test_batch_norm_training_gradcheck(case):
    shape, has_gamma, has_beta, x_grad = case
    checked = 0
    for seed in range(3):  # 10 cases x 3 seeds = 30 seeded inputs
        rng = np.random.default_rng(seed)
        x = t64(draw(shape, rng, offset=rng.uniform(-3, 3)), x_grad)
        gamma, beta = affine_inputs(rng, shape[1], has_gamma, has_beta)
        rm, rv = np.zeros(shape[1]), np.ones(shape[1])  # updated on every call: harmless here

        def fn(x, g, b):
            return ops.batch_norm(x, g, b, rm, rv, training=True, momentum=0.2)

        for err in checked_errors(fn, x, gamma, beta, seed):
            assert err < TOL, f"shape {shape}, seed {seed}: {err:.2e}"
            checked += 1
    assert checked >= 3


@pytest.mark.parametrize("case", BN_CASES[:8], ids=str)
def test_batch_norm_eval_gradcheck(case):
    shape, has_gamma, has_beta, x_grad = case
    for seed in range(2):
        rng = np.random.default_rng(100 + seed)
        x = t64(draw(shape, rng), x_grad)
        gamma, beta = affine_inputs(rng, shape[1], has_gamma, has_beta)
        rm, rv = rng.standard_normal(shape[1]), rng.uniform(0.5, 2.0, shape[1])

        def fn(x, g, b):
            return ops.batch_norm(x, g, b, rm, rv, training=False)

        for err in checked_errors(fn, x, gamma, beta, seed):
            assert err < TOL, f"shape {shape}, seed {seed}: {err:.2e}"


def test_batch_norm_gradcheck_without_running_stats():
    for seed in range(3):
        rng = np.random.default_rng(200 + seed)
        x = t64(draw((4, 3, 2), rng))
        gamma, beta = affine_inputs(rng, 3, True, True)
        for err in checked_errors(ops.batch_norm, x, gamma, beta, seed):
            assert err < TOL


def test_batch_norm_gradcheck_through_a_graph():
    # x used twice (normalized and added back) and the output fed through another op.
    rng = np.random.default_rng(5)
    x, w = t64(rng.standard_normal((5, 3))), t64(rng.standard_normal((3, 3)))
    gamma, beta = affine_inputs(rng, 3, True, True)

    def fn(x, w, g, b):
        return (ops.batch_norm(x @ w, g, b) + x).tanh() * ops.batch_norm(x, g, None)

    assert max(gradcheck_errors(fn, [x, w, gamma, beta])) < TOL


@pytest.mark.parametrize("case", LN_CASES, ids=str)
def test_layer_norm_gradcheck(case):
    shape, ns, has_gamma, has_beta, x_grad = case
    nshape = (ns,) if isinstance(ns, int) else ns
    for seed in range(3):
        rng = np.random.default_rng(300 + seed)
        x = t64(draw(shape, rng, offset=rng.uniform(-3, 3)), x_grad)
        gamma = t64(rng.uniform(0.5, 2.0, nshape)) if has_gamma else None
        beta = t64(rng.standard_normal(nshape)) if has_beta else None

        def fn(x, g, b):
            return ops.layer_norm(x, ns, g, b)

        for err in checked_errors(fn, x, gamma, beta, seed):
            assert err < TOL, f"shape {shape}, seed {seed}: {err:.2e}"


# --- the worked example and the memo -----------------------------------------------------------


def test_worked_example():
    rm, rv = np.zeros(1), np.ones(1)
    y = ops.batch_norm(t64([[1.0], [3.0]]), None, None, rm, rv, momentum=0.5, eps=1e-12)
    assert np.allclose(y.numpy(), [[-1.0], [1.0]])
    assert np.allclose(rm, [1.0]) and np.allclose(rv, [1.5])
    y = ops.batch_norm(t64([[1.0], [3.0]]), None, None, rm, rv, training=False, eps=1e-12)
    assert np.allclose(y.numpy(), [[0.0], [2.0 / np.sqrt(1.5)]])


def test_memo_is_x_hat_and_inv_std_not_x():
    rng = np.random.default_rng(0)
    x = t64(rng.standard_normal((6, 4)))
    gamma, beta = affine_inputs(rng, 4, True, True)
    y = ops.batch_norm(x, gamma, beta)
    x_hat, inv_std, saved_gamma = y.creator.saved
    assert x_hat.shape == (6, 4) and inv_std.size == 4 and saved_gamma is gamma.data
    assert not any(a is x.data for a in y.creator.saved)
    assert np.allclose(x_hat.mean(axis=0), 0) and np.allclose(x_hat.std(axis=0), 1, atol=1e-5)
    y.sum().backward()
    assert y.creator.saved is None  # freed after backward
    # A data batch: x needs no gradient, so neither inv_std nor gamma is kept.
    y = ops.batch_norm(t64(x.numpy(), grad=False), gamma, beta)
    _, inv_std, g = y.creator.saved
    assert inv_std is None and g is None
    # Nothing needs a gradient: nothing recorded, nothing saved.
    with dp.no_grad():
        y = ops.batch_norm(x, gamma, beta)
    assert y.creator is None and not y.requires_grad


def test_float32_stays_float32_and_running_stats_update_under_no_grad():
    rng = np.random.default_rng(1)
    x = dp.tensor(rng.standard_normal((8, 3)).astype(np.float32), requires_grad=True)
    gamma = dp.tensor(np.ones(3, np.float32), requires_grad=True)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    y = ops.batch_norm(x, gamma, None, rm, rv)
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32 and gamma.grad.dtype == np.float32
    assert rm.dtype == np.float32 and rv.dtype == np.float32
    before = rm.copy()
    with dp.no_grad():  # as PyTorch: a training-mode forward updates the statistics regardless
        ops.batch_norm(x, gamma, None, rm, rv)
    assert not np.array_equal(rm, before)
    z = ops.layer_norm(x, 3)
    assert z.dtype == np.float32


def test_running_stats_as_tensors_are_updated_in_place():
    rm, rv = dp.tensor(np.zeros(2)), dp.tensor(np.ones(2))
    ops.batch_norm(t64([[0.0, 1.0], [2.0, 5.0]]), None, None, rm, rv, momentum=1.0)
    assert np.allclose(rm.numpy(), [1.0, 3.0]) and np.allclose(rv.numpy(), [2.0, 8.0])


def test_two_pass_variance_survives_a_large_mean():
    # float32 data around 1e4 with unit spread: E[x^2] - E[x]^2 would cancel every digit.
    rng = np.random.default_rng(2)
    x = (1e4 + rng.standard_normal((256, 3))).astype(np.float32)
    ref = (x - x.astype(np.float64).mean(0)) / np.sqrt(x.astype(np.float64).var(0) + 1e-5)
    assert np.abs(ops.batch_norm(x).numpy() - ref).max() < 1e-2
    big = (1e4 + rng.standard_normal((4, 256))).astype(np.float32)
    ref_ln = (big - big.astype(np.float64).mean(1, keepdims=True)) / np.sqrt(
        big.astype(np.float64).var(1, keepdims=True) + 1e-5
    )
    assert np.abs(ops.layer_norm(big, 256).numpy() - ref_ln).max() < 1e-2


# --- bad input ---------------------------------------------------------------------------------


def test_errors_name_the_argument():
    x = t64(np.random.default_rng(0).standard_normal((4, 3)))
    with pytest.raises(ShapeError, match="more than 1 value per channel"):
        ops.batch_norm(t64([[1.0, 2.0, 3.0]]))
    with pytest.raises(ShapeError, match="more than 1 value per channel"):
        ops.batch_norm(t64(np.ones((1, 3, 1))))
    rm = np.zeros(3)
    with pytest.raises(ShapeError):  # the failed call leaves the running statistics alone
        ops.batch_norm(t64(np.ones((1, 3))), None, None, rm, np.ones(3))
    assert np.all(rm == 0)
    ops.batch_norm(t64(np.ones((1, 3))), None, None, rm, np.ones(3), training=False)  # fine
    with pytest.raises(ShapeError, match="batch_norm: x"):
        ops.batch_norm(t64(np.ones(3)))
    with pytest.raises(ShapeError, match="gamma"):
        ops.batch_norm(x, t64(np.ones(4)))
    with pytest.raises(ShapeError, match="beta"):
        ops.batch_norm(x, None, t64(np.ones(2)))
    with pytest.raises(ShapeError, match="running_mean"):
        ops.batch_norm(x, None, None, np.zeros(4), np.ones(4))
    with pytest.raises(ConfigError, match="running_mean, running_var"):
        ops.batch_norm(x, None, None, np.zeros(3), None)
    with pytest.raises(ConfigError, match="running_mean, running_var"):
        ops.batch_norm(x, training=False)
    for bad in (-0.1, 1.5, "0.1", None, True):
        with pytest.raises(ConfigError, match="momentum"):
            ops.batch_norm(x, momentum=bad)
    for bad in (0, -1e-5, "1e-5", True):
        with pytest.raises(ConfigError, match="eps"):
            ops.batch_norm(x, eps=bad)
        with pytest.raises(ConfigError, match="eps"):
            ops.layer_norm(x, 3, eps=bad)
    with pytest.raises(ShapeError, match="normalized shape"):
        ops.layer_norm(x, 4)
    with pytest.raises(ShapeError, match="normalized shape"):
        ops.layer_norm(x, (2, 4, 3))
    for bad in (0, (), (3, 0), "3", True, 2.0):
        with pytest.raises(ConfigError, match="normalized_shape"):
            ops.layer_norm(x, bad)
    with pytest.raises(ShapeError, match="gamma"):
        ops.layer_norm(x, 3, t64(np.ones(4)))


# --- PyTorch parity ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def close(a, b, what):
    b = b.detach().numpy() if hasattr(b, "detach") else b
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=what)


@pytest.mark.parametrize("case", BN_PARITY, ids=str)
@pytest.mark.parametrize("momentum", [0.1, 0.7])
def test_batch_norm_torch_parity_over_steps(case, momentum, torch):
    """Several training steps (fresh batches, the same running statistics), then eval mode:
    outputs, every gradient and the running statistics equal PyTorch's."""
    tf = torch.nn.functional
    shape, has_gamma, has_beta, x_grad = case
    c = shape[1]
    rng = np.random.default_rng(7)
    g_np = rng.uniform(0.5, 2.0, c) if has_gamma else None
    b_np = rng.standard_normal(c) if has_beta else None
    rm, rv = np.zeros(c), np.ones(c)
    t_rm, t_rv = torch.zeros(c, dtype=torch.float64), torch.ones(c, dtype=torch.float64)
    for step in range(4):
        x_np = draw(shape, rng, offset=step)
        v = rng.standard_normal(shape)
        x = t64(x_np, x_grad)
        g = t64(g_np) if has_gamma else None
        b = t64(b_np) if has_beta else None
        tx = torch.tensor(x_np, requires_grad=x_grad)
        tg = torch.tensor(g_np, requires_grad=True) if has_gamma else None
        tb = torch.tensor(b_np, requires_grad=True) if has_beta else None
        training = step < 3
        y = ops.batch_norm(x, g, b, rm, rv, training=training, momentum=momentum, eps=1e-3)
        ty = tf.batch_norm(tx, t_rm, t_rv, tg, tb, training=training, momentum=momentum, eps=1e-3)
        where = f"step {step}, training {training}"
        close(y.numpy(), ty, f"{where}: output")
        y.backward(v)
        ty.backward(torch.from_numpy(v))
        for name, d, t in (("x", x, tx), ("gamma", g, tg), ("beta", b, tb)):
            if d is not None and d.requires_grad:
                close(d.grad.numpy(), t.grad, f"{where}: grad {name}")
        close(rm, t_rm, f"{where}: running_mean")
        close(rv, t_rv, f"{where}: running_var")


@pytest.mark.parametrize("case", LN_CASES, ids=str)
def test_layer_norm_torch_parity(case, torch):
    shape, ns, has_gamma, has_beta, x_grad = case
    nshape = (ns,) if isinstance(ns, int) else ns
    for seed in range(2):
        rng = np.random.default_rng(400 + seed)
        x_np = draw(shape, rng, offset=2.0)
        g_np = rng.uniform(0.5, 2.0, nshape)
        b_np = rng.standard_normal(nshape)
        v = rng.standard_normal(shape)
        x = t64(x_np, x_grad)
        g = t64(g_np) if has_gamma else None
        b = t64(b_np) if has_beta else None
        tx = torch.tensor(x_np, requires_grad=x_grad)
        tg = torch.tensor(g_np, requires_grad=True) if has_gamma else None
        tb = torch.tensor(b_np, requires_grad=True) if has_beta else None
        y = ops.layer_norm(x, ns, g, b, eps=1e-4)
        ty = torch.nn.functional.layer_norm(tx, nshape, tg, tb, eps=1e-4)
        close(y.numpy(), ty, "output")
        y.backward(v)
        ty.backward(torch.from_numpy(v))
        for name, d, t in (("x", x, tx), ("gamma", g, tg), ("beta", b, tb)):
            if d is not None and d.requires_grad:
                close(d.grad.numpy(), t.grad, f"seed {seed}: grad {name}")


def test_old_import_path_still_works():
    # ops/norm.py was split into norm_batch, norm_layer and norm_common; the old path stays.
    assert norm.batch_norm is ops.batch_norm and norm.layer_norm is ops.layer_norm
    assert norm.BatchNorm.__module__ == "deltaprop.ops.norm_batch"
