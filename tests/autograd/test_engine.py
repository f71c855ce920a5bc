"""The backward walk: depth, accumulation, retained and freed graphs, modes, dtypes, errors."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import deltaprop as dp
import deltaprop.ops as DP
from deltaprop import backend
from deltaprop.autograd import engine
from deltaprop.errors import ConfigError, GraphError, ShapeError


def f64(values, requires_grad=True):
    return dp.tensor(values, requires_grad=requires_grad, dtype=np.float64)


def graph_nodes(root):
    """Every Function reachable from ``root`` (an explicit stack: graphs here can be deep)."""
    seen, stack = set(), [root.creator]
    while stack:
        fn = stack.pop()
        if fn is None or isinstance(fn, dp.Tensor) or id(fn) in seen:
            continue
        seen.add(id(fn))
        yield fn
        stack.extend(fn.parents)


def _stack_depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    return depth


def test_backward_is_the_engine_function():
    # One mechanism: the engine attaches itself as the method, with no wrapper in between.
    assert dp.Tensor.backward is engine.backward
    x = f64([1.0, 2.0])
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


# --- depth -------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1000, 5000])
def test_long_chain_backward_is_iterative(n):
    x = f64([0.5, -1.0])
    y = x
    for i in range(n):
        y = y * 1.0001 if i % 2 else y + 0.001
    loss = y.sum()
    # Far less stack than the graph is deep: a recursive walk would raise RecursionError here.
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(_stack_depth() + 100)
    try:
        loss.backward()
    finally:
        sys.setrecursionlimit(old)
    np.testing.assert_allclose(x.grad.numpy(), [1.0001 ** (n // 2)] * 2, rtol=1e-12)
    assert all(fn.saved is None for fn in graph_nodes(loss))


def test_wide_graph_many_uses_of_one_tensor():
    x = f64([1.0, 2.0])
    total = x * 0.0
    for k in range(200):
        total = total + x * float(k)
    total.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [sum(range(200))] * 2)


# --- accumulation ------------------------------------------------------------------------------


def test_tensor_used_twice_accumulates():
    x = f64([1.5, -2.0, 3.0])
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2 * x.numpy())

    x.zero_grad()
    (x + x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])


def test_diamond_graph():
    # a = 2x; L = sum(exp(a) * tanh(a) + a)  =>  dL/dx = 2 (e^a tanh a + e^a (1 - tanh^2 a) + 1)
    x = f64([0.3, -0.7])
    a = x * 2.0
    loss = (a.exp() * a.tanh() + a).sum()
    loss.backward()
    av = 2 * x.numpy()
    expected = 2 * (np.exp(av) * np.tanh(av) + np.exp(av) * (1 - np.tanh(av) ** 2) + 1)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-13)


def test_shared_intermediate_and_leaf_in_one_op():
    # h = x^2 is used by two branches and again together with x: L = sum(h * x + h + x)
    x = f64([0.5, 2.0])
    h = x * x
    (h * x + h + x).sum().backward()
    xv = x.numpy()
    np.testing.assert_allclose(x.grad.numpy(), 3 * xv**2 + 2 * xv + 1, rtol=1e-14)


def test_grad_accumulates_across_backward_calls_and_zero_grad():
    x = f64([1.0, 2.0])
    (x * 3.0).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 6.0])  # like torch: summed, not replaced
    x.zero_grad()
    assert x.grad is None
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_leaf_grad_does_not_alias_the_upstream_grad():
    x = f64([1.0, 2.0])
    seed = np.array([1.0, 1.0])
    (x + 0.0).backward(seed)
    x.grad.data += 5.0  # the user edits the gradient; the seed must not change
    np.testing.assert_array_equal(seed, [1.0, 1.0])
    x.grad = None
    x.backward(seed)  # a leaf's own backward seeds its gradient with a copy
    assert x.grad.data is not seed


def test_grad_is_a_tensor_without_graph():
    x = f64([1.0, 2.0])
    (x * x).sum().backward()
    assert isinstance(x.grad, dp.Tensor)
    assert not x.grad.requires_grad and x.grad.creator is None
    assert x.grad.shape == x.shape and x.grad.dtype == x.dtype


# --- retained and freed graphs -----------------------------------------------------------------


def test_retain_graph_allows_second_backward():
    x = f64([0.5, -1.5])
    loss = (x.exp() * x).sum()
    loss.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    assert all(fn.saved is not None for fn in graph_nodes(loss))
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)


def test_second_backward_without_retain_raises():
    x = f64([0.5, -1.5])
    loss = (x.exp() * x).sum()
    loss.backward()
    with pytest.raises(GraphError, match="second time.*retain_graph"):
        loss.backward()


def test_saved_arrays_are_freed_after_backward():
    x, w = f64(np.ones((2, 3))), f64(np.full((3, 2), 0.5))
    t = f64(np.zeros((2, 2)), requires_grad=False)
    loss = DP.mse_loss((x @ w).sigmoid() * x[:, :2], t) + DP.log_softmax(x).max()
    nodes = list(graph_nodes(loss))
    assert len(nodes) >= 7
    assert any(fn.saved for fn in nodes)  # something was memoized...
    loss.backward()
    assert all(fn.saved is None for fn in nodes)  # ...and all of it is gone


def test_shared_subgraph_freed_once_used_by_both_outputs():
    x = f64([1.0, 2.0])
    h = x.exp()
    (h.sum() + (h * 2.0).sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * np.exp([1.0, 2.0]))
    assert h.creator.saved is None


# --- no_grad and what needs no gradient --------------------------------------------------------


def test_no_grad_records_nothing():
    x = f64([1.0, 2.0])
    with dp.no_grad():
        y = (x * 2.0).exp().sum()
        with dp.enable_grad():
            z = x * 2.0
        inner = x + 1.0
    assert not y.requires_grad and y.creator is None
    assert not inner.requires_grad and inner.creator is None
    assert z.requires_grad and z.creator is not None
    with pytest.raises(GraphError, match="does not require grad"):
        y.backward()
    after = x * 2.0
    assert after.requires_grad  # the mode is restored on exit


def test_no_grad_restored_after_exception():
    with pytest.raises(RuntimeError):
        with dp.no_grad():
            raise RuntimeError("boom")
    assert (f64([1.0]) * 2.0).requires_grad


def test_inputs_without_requires_grad_get_no_gradient():
    x = f64([[1.0, 2.0, 3.0]] * 2, requires_grad=False)  # a data batch
    w = f64(np.arange(6.0).reshape(3, 2))
    b = f64([0.5, -0.5])
    y = DP.linear(x, w, b)
    node = y.creator
    assert type(node).__name__ == "Linear"
    assert list(node.needs) == [False, True, True]
    saved_x, saved_w = node.saved
    assert saved_w is None  # W is only needed for x's gradient, which nobody wants
    assert saved_x is x.data
    assert node.parents[0] is None
    y.sum().backward()
    assert x.grad is None
    np.testing.assert_array_equal(w.grad.numpy(), [[2.0, 2.0], [4.0, 4.0], [6.0, 6.0]])
    np.testing.assert_array_equal(b.grad.numpy(), [2.0, 2.0])


def test_linear_saves_no_x_when_weight_is_frozen():
    x = f64([[1.0, 2.0]])
    w = f64([[1.0], [1.0]], requires_grad=False)
    node = DP.linear(x, w).creator
    assert node.saved[0] is None and node.saved[1] is w.data


def test_mul_saves_only_the_other_operand():
    a, c = f64([1.0, 2.0]), f64([3.0, 4.0], requires_grad=False)
    node = (a * c).creator
    assert node.saved[0] is c.data and node.saved[1] is None


def test_constant_only_expression_has_no_graph():
    a = dp.tensor([1.0, 2.0])
    y = (a * 2.0 + a).exp()
    assert not y.requires_grad and y.creator is None


# --- backward arguments ------------------------------------------------------------------------


def test_non_scalar_backward_needs_grad():
    y = f64([1.0, 2.0]) * 2.0
    with pytest.raises(GraphError, match="grad can be omitted only for a one-element tensor"):
        y.backward()


def test_backward_with_explicit_grad():
    x = f64([1.0, 2.0, 3.0])
    (x * x).backward(np.array([1.0, 0.0, -1.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 0.0, -6.0])
    x.zero_grad()
    (x * 2.0).backward(dp.tensor([1.0, 1.0, 1.0], dtype=np.float64))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])


def test_one_element_non_scalar_backward_needs_no_grad():
    x = f64([[2.0]])
    (x * x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[4.0]])


def test_wrong_grad_shape_raises():
    y = f64([1.0, 2.0]) * 2.0
    with pytest.raises(ShapeError, match=r"grad must have shape \(2,\), got \(3,\)"):
        y.backward(np.ones(3))


def test_backward_without_requires_grad_raises():
    with pytest.raises(GraphError, match="does not require grad"):
        dp.tensor([1.0, 2.0]).sum().backward()


def test_backward_on_a_leaf():
    x = f64([1.0, 2.0])
    x.backward(np.array([3.0, 4.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])


# --- dtypes ------------------------------------------------------------------------------------


def test_float32_by_default_float64_on_request():
    assert dp.tensor([1.0, 2.0]).dtype == np.float32
    assert dp.tensor(np.ones(2)).dtype == np.float32  # float64 arrays are converted too
    assert dp.tensor([1.0], dtype=np.float64).dtype == np.float64
    assert dp.tensor([1.0], dtype="float64").dtype == np.float64
    assert dp.tensor([1, 2]).dtype.kind == "i"  # labels keep their kind
    assert dp.tensor([True, False]).dtype == bool


def test_seed_takes_a_non_negative_integer():
    dp.seed(np.int64(3))  # NumPy integers are integers
    drawn = backend.rng().random(4)
    dp.seed(3)
    np.testing.assert_array_equal(backend.rng().random(4), drawn)
    for bad in (-1, 1.0, True, "3", None):
        with pytest.raises(ConfigError, match=r"seed: expected an integer >= 0, got"):
            dp.seed(bad)


def test_set_default_dtype_is_restorable():
    try:
        dp.set_default_dtype("float64")
        assert dp.tensor([1.0]).dtype == np.float64
        dp.set_default_dtype(np.float32)
        assert dp.tensor([1.0]).dtype == np.float32
    finally:
        dp.set_default_dtype("float32")
    with pytest.raises(ConfigError, match="dtype"):
        dp.set_default_dtype("float16")


@pytest.mark.parametrize(
    "expr",
    [
        lambda x: x * 2.0,
        lambda x: 2.0 * x,
        lambda x: x + 1,
        lambda x: 1.5 - x,
        lambda x: x / 3.0,
        lambda x: 3.0 / x,
        lambda x: x**2.0,
        lambda x: 2.0**x,
        lambda x: np.float64(2.0) * x,
        lambda x: x * np.float64(2.0),
        lambda x: DP.maximum(x, 0.5),
        lambda x: DP.where(x.numpy() > 1.5, x, 0.0),
        lambda x: DP.clip(x, 0.0, 1.5),
        lambda x: DP.mse_loss(x, np.zeros(2)),
        lambda x: DP.linear(np.ones((1, 2)), x.reshape(2, 1), x[:1]),
        lambda x: x @ np.ones(2),
        lambda x: np.ones(2) @ x,
    ],
)
def test_python_scalars_and_constants_do_not_upcast_float32(expr):
    x = dp.tensor([1.0, 2.0], requires_grad=True)
    y = expr(x)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_float64_graph_stays_float64():
    x = dp.tensor([1.0, 2.0], requires_grad=True, dtype=np.float64)
    y = (x * 2.0 + 1).exp().mean()
    assert y.dtype == np.float64
    y.backward()
    assert x.grad.dtype == np.float64


def test_only_floating_tensors_require_grad():
    with pytest.raises(ConfigError, match="requires_grad"):
        dp.tensor([1, 2], requires_grad=True)
    with pytest.raises(ConfigError, match="requires_grad"):
        dp.tensor([1, 2]).requires_grad_()


# --- debug mode --------------------------------------------------------------------------------


def test_debug_mode_names_the_op_that_made_nan():
    x = f64([1.0, -1.0])
    with np.errstate(invalid="ignore"):
        assert np.isnan(x.log().numpy()[1])  # outside debug mode: silent NaN, like NumPy
        with dp.debug_mode():
            with pytest.raises(GraphError, match=r"Log forward output has 1 non-finite"):
                x.log()


def test_debug_mode_checks_gradients():
    x = f64([0.0, 4.0])
    y = x.sqrt().sum()  # sqrt(0) is fine; its derivative 1/(2 sqrt 0) is not
    with np.errstate(divide="ignore"), dp.debug_mode():
        with pytest.raises(GraphError, match="gradient from Sqrt"):
            y.backward()


def _log_is_checked() -> bool:
    """Whether debug mode is on, seen from outside: log(-1) raises instead of giving NaN."""
    with np.errstate(invalid="ignore"):
        try:
            out = f64([-1.0]).log()
        except GraphError:
            return True
    assert np.isnan(out.numpy()[0])  # unchecked: NumPy's silent NaN, not some other value
    return False


def test_debug_mode_is_scoped():
    assert not _log_is_checked()
    with dp.debug_mode():
        assert _log_is_checked()
        with dp.debug_mode(False):  # switched off inside, and back on after the inner block
            assert not _log_is_checked()
        assert _log_is_checked()
    assert not _log_is_checked()  # no error once the block has ended
    with pytest.raises(RuntimeError, match="inside"):
        with dp.debug_mode():
            raise RuntimeError("inside")
    assert not _log_is_checked()  # restored when the block is left by an exception too


# --- tensor conveniences -----------------------------------------------------------------------


def test_numpy_item_detach_T():
    x = f64([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    arr = x.numpy()
    assert isinstance(arr, np.ndarray) and arr.shape == (2, 3)
    assert x.sum().item() == 21.0 and isinstance(x.sum().item(), float)
    assert dp.tensor([[7.0]]).item() == 7.0
    with pytest.raises(GraphError, match="one element"):
        x.item()
    d = (x * 2.0).detach()
    assert not d.requires_grad and d.creator is None
    np.testing.assert_array_equal(d.numpy(), 2 * arr)
    assert x.detach().data is x.data  # shares memory
    assert x.T.shape == (3, 2)
    np.testing.assert_array_equal(x.T.numpy(), arr.T)
    x.T.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((2, 3)))
    assert x.shape == (2, 3) and x.ndim == 2 and x.size == 6 and len(x) == 2
    assert x.is_leaf and not (x * 1.0).is_leaf
    assert "requires_grad=True" in repr(x)
    assert x.tolist() == arr.tolist()


def test_detached_tensor_gets_no_gradient():
    x = f64([1.0, 2.0])
    y = x * x.detach()  # the detached factor is a constant
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 2.0])


def test_comparisons_are_boolean_and_untracked():
    x = f64([1.0, 2.0, 3.0])
    y = f64([2.0, 2.0, 2.0])
    for result, expected in [
        (x < 2.0, [True, False, False]),
        (x <= 2.0, [True, True, False]),
        (x > y, [False, False, True]),
        (x >= y, [False, True, True]),
    ]:
        assert result.dtype == bool and not result.requires_grad and result.creator is None
        np.testing.assert_array_equal(result.numpy(), expected)
    picked = x[x > 1.5]  # a boolean Tensor indexes like a mask
    np.testing.assert_array_equal(picked.numpy(), [2.0, 3.0])


def test_ndarray_on_the_left_builds_a_graph():
    x = f64([1.0, 2.0])
    y = np.array([3.0, 4.0]) * x
    assert isinstance(y, dp.Tensor) and y.requires_grad
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])


# --- dropout -----------------------------------------------------------------------------------


def test_dropout_masks_scales_and_is_reproducible():
    x = dp.tensor(np.ones((200, 50)), requires_grad=True)
    y = DP.dropout(x, 0.25, generator=np.random.default_rng(3))
    kept = y.numpy() != 0
    assert abs(kept.mean() - 0.75) < 0.02
    np.testing.assert_allclose(y.numpy()[kept], 1 / 0.75, rtol=1e-6)
    y2 = DP.dropout(x, 0.25, generator=np.random.default_rng(3))
    np.testing.assert_array_equal(y.numpy(), y2.numpy())
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.numpy())  # the gradient is the scaled mask
    dp.seed(5)
    a = DP.dropout(x, 0.5).numpy()
    dp.seed(5)
    np.testing.assert_array_equal(DP.dropout(x, 0.5).numpy(), a)


def test_dropout_identity_when_not_training_or_p_zero():
    x = f64([1.0, 2.0])
    assert DP.dropout(x, 0.5, training=False) is x
    assert DP.dropout(x, 0.0) is x


# --- indexing ----------------------------------------------------------------------------------


def test_repeated_integer_indices_accumulate():
    x = f64([10.0, 20.0, 30.0, 40.0])
    x[np.array([0, 0, 2, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 0.0, 1.0, 0.0])
    m = f64(np.zeros((2, 3)))
    (m[[1, 1], [2, 2]] * f64([1.0, 5.0], requires_grad=False)).sum().backward()
    np.testing.assert_array_equal(m.grad.numpy(), [[0, 0, 0], [0, 0, 6.0]])


def test_basic_and_mask_indexing_scatter_back():
    x = f64(np.arange(6.0).reshape(2, 3))
    (x[:, 1:] * 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 2, 2], [0, 2, 2]])
    x.zero_grad()
    x[x.numpy() > 2.5].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0, 0], [1, 1, 1]])
