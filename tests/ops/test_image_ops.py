"""conv2d, the pools, embedding and batch_norm2d beyond the op table: what the nodes keep and
when they let it go, float32, memory layouts, max pool's ties and NaN, and bad input.

(Gradient checks and PyTorch parity for every option are in test_op_table.py.)

A worked example of conv2d by hand: x = [[1, 2], [3, 4]] (one 2x2 image, one channel), the
kernel [[1, 0], [0, -1]], padding 0: one output, 1*1 + 2*0 + 3*0 + 4*(-1) = -3. With an
upstream gradient g, dL/dkernel = g * x (each weight met one input) and dL/dx = g * kernel.
"""

from __future__ import annotations

import gc
import math
import weakref

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import ops
from deltaprop.errors import ConfigError, DataError, ShapeError
from deltaprop.ops import window

RNG = np.random.default_rng(0)


def t(*shape, grad=True, dtype=np.float64):
    return dp.tensor(RNG.standard_normal(shape), requires_grad=grad, dtype=dtype)


def test_conv2d_worked_example():
    x = dp.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], requires_grad=True, dtype=np.float64)
    k = dp.tensor([[[[1.0, 0.0], [0.0, -1.0]]]], requires_grad=True, dtype=np.float64)
    y = ops.conv2d(x, k)
    assert y.shape == (1, 1, 1, 1) and y.item() == -3.0
    y.backward(np.full((1, 1, 1, 1), 2.0))
    assert np.array_equal(k.grad.numpy(), 2.0 * x.numpy())
    assert np.array_equal(x.grad.numpy(), 2.0 * k.numpy())


# --- the memo ----------------------------------------------------------------------------------


def test_conv2d_keeps_the_columns_only_for_the_weight_and_frees_them_after_backward():
    x, w, b = t(2, 3, 6, 6), t(4, 3, 3, 3), t(4)
    y = ops.conv2d(x, w, b, padding=1)
    cols, w2 = y.creator.saved
    assert cols.shape == (3 * 3 * 3, 2 * 6 * 6)  # (C kH kW, N OH OW): flat planes, no garbage
    assert w2.shape == (4, 27)
    ref = weakref.ref(cols)
    del cols, w2
    y.backward(np.ones(y.shape))
    assert y.creator.saved is None
    gc.collect()
    assert ref() is None, "the column buffer outlived the backward that needed it"

    data = t(2, 3, 6, 6, grad=False)  # a data batch: no input gradient, so no W2 kept
    cols, w2 = ops.conv2d(data, w, b, padding=1).creator.saved
    assert cols is not None and w2 is None
    frozen = t(4, 3, 3, 3, grad=False)  # a frozen weight: no columns kept
    cols, w2 = ops.conv2d(x, frozen, padding=1).creator.saved
    assert cols is None and w2 is not None


def test_max_pool_keeps_one_small_index_per_output_not_the_windows():
    x = t(2, 3, 8, 8)
    y = ops.max_pool2d(x, 2)
    (idx,) = y.creator.saved
    assert idx.shape == y.shape and idx.dtype == np.uint8
    assert ops.avg_pool2d(x, 2).creator.saved == ()
    with dp.no_grad():
        assert ops.max_pool2d(x, 2).creator is None


def test_embedding_keeps_only_the_indices():
    w = t(5, 3)
    y = ops.embedding(np.array([[0, 4], [4, 1]]), w)
    assert y.creator.saved == () and y.shape == (2, 2, 3)


# --- dtypes and layouts --------------------------------------------------------------------------


def test_float32_stays_float32():
    x, w, b = (t(*s, dtype=np.float32) for s in ((2, 3, 5, 5), (4, 3, 3, 3), (4,)))
    y = ops.conv2d(x, w, b, padding=1)
    z = ops.avg_pool2d(ops.max_pool2d(y.relu(), 2, stride=1), 2)
    z = ops.adaptive_avg_pool2d(ops.batch_norm2d(z))
    assert y.dtype == np.float32 and z.dtype == np.float32
    z.sum().backward()
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32
    e = ops.embedding([1, 2], t(4, 3, dtype=np.float32))
    assert e.dtype == np.float32


@pytest.mark.parametrize("layout", ["transposed", "strided", "channels-major"])
def test_inputs_in_any_memory_layout_give_the_same_values_and_gradients(layout):
    base = RNG.standard_normal((3, 2, 5, 7))
    if layout == "transposed":
        data = np.ascontiguousarray(base.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    elif layout == "strided":
        big = np.zeros((3, 2, 10, 14))
        big[:, :, ::2, ::2] = base
        data = big[:, :, ::2, ::2]
    else:
        data = np.ascontiguousarray(base.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    assert np.array_equal(data, base)
    w = RNG.standard_normal((4, 2, 3, 2))
    results = []
    for array in (base, data):
        x = dp.tensor(array, requires_grad=True, dtype=np.float64)
        wt = dp.tensor(w, requires_grad=True, dtype=np.float64)
        y = ops.conv2d(x, wt, padding=(1, 0), stride=(1, 2))
        y = ops.max_pool2d(y, 2, stride=1) + ops.avg_pool2d(x, 2, stride=1, padding=1).sum()
        y.backward(np.ones(y.shape))
        results.append((y.numpy(), x.grad.numpy(), wt.grad.numpy()))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_conv_output_is_a_view_of_channel_major_memory():
    # The layout choice of ops/conv.py: (O, N, ...) memory, so y = W2 @ cols needs no copy.
    y = ops.conv2d(t(3, 2, 4, 4, grad=False), t(5, 2, 1, 1, grad=False))
    assert y.data.strides[1] > y.data.strides[0]


def _direct_conv(x, w, b, stride=1, padding=0, dilation=1):
    """The textbook loop over output positions: conv2d's definition, for a reference."""
    (sh, sw), (ph, pw), (dh, dw) = (
        (v, v) if isinstance(v, int) else v for v in (stride, padding, dilation)
    )
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1
    ow = (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((x.shape[0], o, oh, ow))
    for a in range(oh):
        for c in range(ow):
            win = xp[
                :,
                :,
                a * sh : a * sh + dh * (kh - 1) + 1 : dh,
                c * sw : c * sw + dw * (kw - 1) + 1 : dw,
            ]
            y[:, :, a, c] = np.einsum("ncij,ocij->no", win, w)
    return y if b is None else y + b[None, :, None, None]


@pytest.mark.parametrize(
    "options",
    [{"padding": 1}, {}, {"stride": 2, "padding": 1}, {"padding": 2, "dilation": (1, 2)}],
    ids=["same-wrapped", "valid-wide", "stride2-wide", "dilated-wide"],
)
@pytest.mark.parametrize("bias", [True, False])
def test_conv_output_is_contiguous_channel_major_memory_in_both_row_layouts(options, bias):
    # Wide rows compute garbage outputs that forward drops: into a fresh contiguous array (with
    # the bias in the same pass), since ReLU and pooling run 2-4x slower on a strided view.
    x, w, b = t(3, 2, 7, 6, grad=False), t(4, 2, 3, 3, grad=False), t(4, grad=False)
    y = ops.conv2d(x, w, b if bias else None, **options).data
    assert y.transpose(1, 0, 2, 3).flags.c_contiguous
    ref = _direct_conv(x.numpy(), w.numpy(), b.numpy() if bias else None, **options)
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)


def test_same_conv_edges_see_zero_padding_not_the_neighbouring_rows():
    # Flat planes (ops/window.py) read the next row's first value where the padding would be,
    # and zero it afterwards. Large, distinct values make any leak obvious in the sums.
    x = np.arange(2 * 5 * 4, dtype=np.float64).reshape(1, 2, 5, 4) * 1000.0 + 1.0
    w = np.ones((1, 2, 3, 5))  # 3 rows x 5 columns of ones: padding (1, 2) keeps OW = W
    xt = dp.tensor(x, requires_grad=True, dtype=np.float64)
    wt = dp.tensor(w, requires_grad=True, dtype=np.float64)
    y = ops.conv2d(xt, wt, padding=(1, 2))
    assert y.creator.plan.wrapped
    np.testing.assert_array_equal(y.numpy(), _direct_conv(x, w, None, padding=(1, 2)))
    g = RNG.standard_normal(y.shape) * 1000.0
    y.backward(g)
    # The gradient of a sum of windows: each input gets the sum of g over the windows it is in.
    gp = np.pad(g[0, 0], ((1, 1), (2, 2)))
    expected = sum(gp[i : i + 5, j : j + 4] for i in range(3) for j in range(5))
    np.testing.assert_allclose(xt.grad.numpy()[0], np.stack([expected] * 2), rtol=1e-12)
    np.testing.assert_allclose(wt.grad.numpy(), _window_sums(x, g, (3, 5), (1, 2)), rtol=1e-12)


def _window_sums(x, g, kernel, padding):
    """dL/dw of a conv of x with gradient g: sum over n, a, b of g[n, o, a, b] x_pad[...]."""
    (kh, kw), (ph, pw) = kernel, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh, ow = g.shape[2:]
    out = np.empty((g.shape[1], x.shape[1], kh, kw))
    for i in range(kh):
        for j in range(kw):
            out[:, :, i, j] = np.einsum("noab,ncab->oc", g, xp[:, :, i : i + oh, j : j + ow])
    return out


# --- max pool: ties and NaN -----------------------------------------------------------------------


def test_max_pool_ties_send_the_gradient_to_the_first_maximum_as_pytorch():
    x = dp.tensor(np.zeros((1, 1, 4, 4)), requires_grad=True, dtype=np.float64)
    y = ops.max_pool2d(x, 2)
    y.backward(np.ones(y.shape))
    expected = np.zeros((4, 4))
    expected[::2, ::2] = 1.0  # the top-left of every window
    assert np.array_equal(x.grad.numpy()[0, 0], expected)
    torch = pytest.importorskip("torch")
    xt = torch.zeros((1, 1, 4, 4), dtype=torch.float64, requires_grad=True)
    torch.nn.functional.max_pool2d(xt, 2).sum().backward()
    assert np.array_equal(xt.grad.numpy(), x.grad.numpy())


def test_overlapping_max_pool_windows_add_their_gradients():
    x = dp.tensor(np.arange(9.0).reshape(1, 1, 3, 3), requires_grad=True, dtype=np.float64)
    y = ops.max_pool2d(x, 2, stride=1)  # the centre-right and bottom values win twice
    assert y.numpy()[0, 0].tolist() == [[4.0, 5.0], [7.0, 8.0]]
    y.backward(np.ones(y.shape))
    assert x.grad.numpy()[0, 0].tolist() == [[0, 0, 0], [0, 1, 1], [0, 1, 1]]


def test_max_pool_propagates_nan_like_pytorch():
    x = np.zeros((1, 1, 2, 4))
    x[0, 0, 1, 3] = np.nan
    y = ops.max_pool2d(dp.tensor(x, dtype=np.float64), 2).numpy()
    assert y[0, 0, 0, 0] == 0.0 and np.isnan(y[0, 0, 0, 1])


def test_max_pool_padding_is_never_the_maximum():
    x = -np.ones((1, 1, 2, 2)) - RNG.uniform(size=(1, 1, 2, 2))
    y = ops.max_pool2d(dp.tensor(x, dtype=np.float64), 3, stride=1, padding=1).numpy()
    assert np.all(y == x.max())  # every 3x3 window holds all four values, the rest padding


def test_max_pool_index_of_large_and_1x1_kernels():
    # Over 256 taps the winning tap needs int32, not a byte; a 1x1 kernel has one tap only.
    x = dp.tensor(RNG.standard_normal((2, 1, 17, 17)), requires_grad=True, dtype=np.float64)
    y = ops.max_pool2d(x, 17)
    assert y.creator.saved[0].dtype == np.int32
    y.backward(np.full(y.shape, 3.0))
    flat = x.numpy().reshape(2, -1)
    expected = np.zeros_like(flat)
    expected[[0, 1], flat.argmax(axis=1)] = 3.0
    np.testing.assert_array_equal(x.grad.numpy().reshape(2, -1), expected)
    x = dp.tensor(RNG.standard_normal((2, 3, 2, 3)), requires_grad=True, dtype=np.float64)
    y = ops.max_pool2d(x, 1)
    assert np.array_equal(y.numpy(), x.numpy()) and not y.creator.saved[0].any()
    y.backward(np.full(y.shape, 2.0))
    assert np.all(x.grad.numpy() == 2.0)


@pytest.mark.parametrize("shape", [(2, 3, 6, 8), (2, 3, 7, 8), (2, 3, 6, 9), (1, 2, 5, 5)])
@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
def test_pool_gradient_is_zero_where_no_window_reaches(shape, op):
    # When 2x2 windows tile the plane, backward fills an uninitialised buffer (every element is
    # written by one tap); otherwise the last row or column is in no window and must get 0.
    # Freed NaN memory first, so that an uninitialised buffer would most likely show NaN.
    junk = np.full(2 * math.prod(shape), np.nan)
    del junk
    x = dp.tensor(RNG.standard_normal(shape), requires_grad=True, dtype=np.float64)
    y = getattr(ops, op)(x, 2)
    y.backward(np.ones(y.shape))
    g = x.grad.numpy()
    assert np.isfinite(g).all()
    h, w = 2 * (shape[2] // 2), 2 * (shape[3] // 2)
    assert np.all(g[:, :, h:] == 0) and np.all(g[:, :, :, w:] == 0)
    assert g.sum() == pytest.approx(y.data.size)  # each output's 1 went to its window
    assert window.tiles(y.creator.plan) == (shape[2] % 2 == 0 and shape[3] % 2 == 0)


# --- embedding ------------------------------------------------------------------------------------


def test_embedding_gradient_adds_up_repeated_indices():
    w = dp.tensor(np.zeros((4, 2)), requires_grad=True, dtype=np.float64)
    y = ops.embedding(np.array([[1, 1], [3, 1]]), w)
    y.backward(np.ones(y.shape))
    assert w.grad.numpy().tolist() == [[0, 0], [3, 3], [0, 0], [1, 1]]


def test_embedding_accepts_whole_floats_and_tensors():
    w = t(6, 2)
    ref = ops.embedding(np.array([0, 5, 2]), w).numpy()
    for indices in (np.array([0.0, 5.0, 2.0], dtype=np.float32), dp.tensor([0, 5, 2]), [0, 5, 2]):
        assert np.array_equal(ops.embedding(indices, w).numpy(), ref)


# --- bad input ---------------------------------------------------------------------------------

X = dp.tensor(np.ones((2, 3, 5, 5)), requires_grad=True, dtype=np.float64)
W = dp.tensor(np.ones((4, 3, 3, 3)), requires_grad=True, dtype=np.float64)

BAD = [
    ("conv channels", lambda: ops.conv2d(t(2, 1, 5, 5), W), ShapeError,
     r"conv2d: expected input \(N, 3, H, W\), got \(2, 1, 5, 5\)"),
    ("conv 3-D input", lambda: ops.conv2d(t(3, 5, 5), W), ShapeError, r"expected input \(N, 3"),
    ("conv 2-D weight", lambda: ops.conv2d(X, t(4, 3)), ShapeError,
     r"weight must be \(C_out, C_in, kH, kW\), got shape \(4, 3\)"),
    ("conv bias", lambda: ops.conv2d(X, W, t(3)), ShapeError, r"bias must have shape \(4,\)"),
    ("conv kernel > input", lambda: ops.conv2d(t(1, 3, 2, 2), W), ShapeError,
     r"kernel 3x3 is larger than the input's 2x2 plane padded by 0,0 \(2x2\)"),
    ("conv dilated kernel > input", lambda: ops.conv2d(X, W, padding=1, dilation=4),
     ShapeError, r"kernel 3x3 \(dilated: 9x9\) is larger .* \(7x7\)"),
    ("conv stride 0", lambda: ops.conv2d(X, W, stride=0), ConfigError,
     "stride: expected an integer >= 1, got 0"),
    ("conv padding -1", lambda: ops.conv2d(X, W, padding=(0, -1)), ConfigError,
     r"padding\[1\]: expected an integer >= 0, got -1"),
    ("conv padding float", lambda: ops.conv2d(X, W, padding=1.5), ConfigError, "padding"),
    ("conv dilation triple", lambda: ops.conv2d(X, W, dilation=(1, 1, 1)), ConfigError,
     r"dilation: expected an integer >= 1 or a pair of them, got \(1, 1, 1\)"),
    ("conv groups", lambda: ops.conv2d(X, W, groups=3), ConfigError,
     "groups: only groups=1 is supported, got 3"),
    ("max pool 2-D", lambda: ops.max_pool2d(t(4, 5), 2), ShapeError,
     r"max_pool2d: expected input \(N, C, H, W\), got \(4, 5\)"),
    ("avg pool kernel > input", lambda: ops.avg_pool2d(t(1, 1, 2, 5), 3), ShapeError,
     "kernel 3x3 is larger"),
    ("max pool padding", lambda: ops.max_pool2d(X, 2, padding=2), ConfigError,
     r"padding: expected at most half the kernel \(1,1 for a 2x2 kernel\), got 2,2"),
    ("avg pool kernel 0", lambda: ops.avg_pool2d(X, 0), ConfigError, "kernel_size"),
    ("adaptive size 2", lambda: ops.adaptive_avg_pool2d(X, 2), ConfigError,
     "output_size: only 1"),
    ("adaptive 3-D", lambda: ops.adaptive_avg_pool2d(t(2, 3, 4)), ShapeError, "(N, C, H, W)"),
    ("batch_norm2d 3-D", lambda: ops.batch_norm2d(t(2, 3, 4)), ShapeError,
     r"batch_norm2d: expected x of shape \(N, C, H, W\), got \(2, 3, 4\)"),
    ("embedding too big", lambda: ops.embedding([0, 5], t(5, 2)), DataError,
     r"embedding: expected indices in 0\.\.4 \(the table has 5 rows\), got values in 0\.\.5"),
    ("embedding negative", lambda: ops.embedding([-1], t(5, 2)), DataError, r"in -1\.\.-1"),
    ("embedding fraction", lambda: ops.embedding([0.5], t(5, 2)), DataError,
     "expected integer indices"),
    ("embedding strings", lambda: ops.embedding(np.array(["a"]), t(5, 2)), DataError,
     "expected integer indices"),
    ("embedding 1-D table", lambda: ops.embedding([0], t(5)), ShapeError,
     r"weight must be \(num_embeddings, embedding_dim\)"),
]  # fmt: skip


@pytest.mark.parametrize("what, call, error, pattern", BAD, ids=[b[0] for b in BAD])
def test_bad_input_raises_a_clear_error(what, call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()
