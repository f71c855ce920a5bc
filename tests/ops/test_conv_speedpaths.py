"""The fast paths of conv2d and max_pool2d (issue 14's CNN case), each against a reference.

- Flat planes (ops/window.py): "same" convolutions (stride 1, OW = W) read x's own planes at a
  flat shift per tap, with no padded copy; col2im writes a contiguous gradient, starting from
  the tap that reads every element in place when there is one, else from zeros.
- The blocked GEMM (ops/conv.py ``_product``): an inner dimension K <= 32 in float32 runs in
  column blocks of the output.
- The bias gradient as a matrix-vector product.
- Max pool's forward reads each tap after the first through a contiguous scratch copy.

A worked example of the flat shift: a 3x3 kernel, padding 1, on 4-wide planes. Output
position m = oh * 4 + q of tap (i, j) reads the flattened plane at m + (i - 1) * 4 + (j - 1):
tap (0, 0) reads m - 5, so outputs 0..4 read before the plane (the padding row above, and for
m = 4 the left padding, which wraps onto x[0, 3] and is zeroed afterwards).
"""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import ops
from deltaprop.autograd import gradcheck_errors
from deltaprop.ops import conv

RNG = np.random.default_rng(14)


def _direct_conv(x, w, b, padding, dilation=(1, 1)):
    """The textbook loop over kernel taps (stride 1), float64: conv2d's definition."""
    (ph, pw), (dh, dw) = padding, dilation
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh = xp.shape[2] - dh * (kh - 1)
    ow = xp.shape[3] - dw * (kw - 1)
    y = np.zeros((x.shape[0], o, oh, ow))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i * dh : i * dh + oh, j * dw : j * dw + ow]
            y += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    return y if b is None else y + b[None, :, None, None]


# (x shape, kernel, padding, dilation): every one a flat plan (stride 1, OW = W).
FLAT = {
    "3x3-pad1": ((2, 3, 5, 6), (3, 3), (1, 1), (1, 1)),
    "5x5-pad2": ((1, 2, 7, 5), (5, 5), (2, 2), (1, 1)),
    "1x1": ((2, 2, 3, 4), (1, 1), (0, 0), (1, 1)),
    "3x1-OH<H": ((2, 2, 6, 3), (3, 1), (0, 0), (1, 1)),
    "1x3-OH>H": ((1, 2, 3, 4), (1, 3), (1, 1), (1, 1)),
    "dilated-2x2-no-centre": ((2, 1, 5, 5), (2, 2), (1, 1), (2, 2)),
    "3x5-uneven": ((1, 2, 4, 7), (3, 5), (1, 2), (1, 1)),
    "padding-wider-than-plane": ((2, 1, 3, 1), (3, 3), (1, 1), (1, 1)),
    "odd-sizes": ((3, 3, 7, 9), (3, 3), (1, 1), (1, 1)),
}


@pytest.mark.parametrize("case", FLAT.values(), ids=FLAT.keys())
def test_flat_plans_match_the_textbook_convolution_and_pass_gradient_checks(case):
    shape, kernel, padding, dilation = case
    x = dp.tensor(RNG.standard_normal(shape), requires_grad=True, dtype=np.float64)
    w = dp.tensor(RNG.standard_normal((2, shape[1], *kernel)), requires_grad=True, dtype=np.float64)
    b = dp.tensor(RNG.standard_normal(2), requires_grad=True, dtype=np.float64)
    y = ops.conv2d(x, w, b, padding=padding, dilation=dilation)
    assert y.creator.plan.flat
    ref = _direct_conv(x.numpy(), w.numpy(), b.numpy(), padding, dilation)
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-12, atol=1e-12)

    def f(x, w, b):
        return ops.conv2d(x, w, b, padding=padding, dilation=dilation)

    assert max(gradcheck_errors(f, [x, w, b])) < 1e-6


def test_flat_col2im_starts_from_zeros_when_no_tap_reads_in_place():
    # A 2x2 kernel dilated by 2 with padding 1: taps shifted by -1 and +1 only, so gx starts
    # from zeros; with 3x3 padding 1 the centre tap writes gx whole. Both against the
    # gradient of the textbook loop, gx = sum over taps of g placed at the tap's offset.
    for kernel, dilation in (((2, 2), (2, 2)), ((3, 3), (1, 1))):
        x = dp.tensor(RNG.standard_normal((2, 2, 5, 4)), requires_grad=True, dtype=np.float64)
        w = RNG.standard_normal((3, 2, *kernel))
        y = ops.conv2d(x, dp.tensor(w, dtype=np.float64), padding=1, dilation=dilation)
        g = RNG.standard_normal(y.shape)
        y.backward(g)
        gp = np.zeros((2, 2, 5 + 2, 4 + 2))
        for i in range(kernel[0]):
            for j in range(kernel[1]):
                r, c = i * dilation[0], j * dilation[1]
                gp[:, :, r : r + 5, c : c + 4] += np.einsum("nohw,oc->nchw", g, w[:, :, i, j])
        np.testing.assert_allclose(x.grad.numpy(), gp[:, :, 1:-1, 1:-1], rtol=1e-12)


def test_flat_gradient_is_contiguous_channel_major_memory():
    x = dp.tensor(RNG.standard_normal((3, 2, 4, 4)), requires_grad=True, dtype=np.float64)
    w = dp.tensor(RNG.standard_normal((4, 2, 3, 3)), dtype=np.float64)
    y = ops.conv2d(x, w, padding=1)
    gx = y.creator.backward(np.ones(y.shape))[0]  # the op's own gradient, before the engine
    assert gx.transpose(1, 0, 2, 3).flags.c_contiguous


@pytest.mark.parametrize("layout", ["batch-major", "channel-major", "strided", "transposed"])
def test_flat_plans_read_planes_in_any_memory_layout(layout):
    base = RNG.standard_normal((2, 3, 5, 6))
    if layout == "channel-major":
        data = np.ascontiguousarray(base.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    elif layout == "strided":  # planes that are not one run: flat_planes copies them
        big = np.zeros((2, 3, 10, 12))
        big[:, :, ::2, ::2] = base
        data = big[:, :, ::2, ::2]
    elif layout == "transposed":
        data = np.ascontiguousarray(base.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    else:
        data = base
    w = RNG.standard_normal((2, 3, 3, 3))
    y = ops.conv2d(dp.tensor(data, dtype=np.float64), dp.tensor(w, dtype=np.float64), padding=1)
    np.testing.assert_allclose(y.numpy(), _direct_conv(base, w, None, (1, 1)), rtol=1e-12)


def test_im2col_never_writes_into_x():
    # zero_wrapped writes into the columns: they must be a copy, never a view of x.
    data = RNG.standard_normal((2, 1, 4, 4))
    keep = data.copy()
    x = dp.tensor(data, requires_grad=True, dtype=np.float64)
    w = dp.tensor(RNG.standard_normal((2, 1, 3, 3)), requires_grad=True, dtype=np.float64)
    ops.conv2d(x, w, padding=1).sum().backward()
    assert np.array_equal(x.numpy(), keep)


@pytest.mark.parametrize("k_small", [True, False])
def test_blocked_product_equals_one_gemm(monkeypatch, k_small):
    # Small blocks (64 bytes: 4 columns of 4 float32 outputs) force many blocks and a short
    # last one (M = 2 * 3 * 5 = 30 columns); K = 9 takes the blocks, K = 36 one GEMM.
    monkeypatch.setattr(conv, "BLOCK_BYTES", 64)
    c_in = 1 if k_small else 4
    x = RNG.standard_normal((2, c_in, 3, 5)).astype(np.float32)
    w = RNG.standard_normal((4, c_in, 3, 3)).astype(np.float32)
    b = RNG.standard_normal(4).astype(np.float32)
    calls = []
    real = conv._product

    def spy(w2, cols, xp):
        calls.append(w2.shape[1])
        return real(w2, cols, xp)

    monkeypatch.setattr(conv, "_product", spy)
    y = ops.conv2d(dp.tensor(x), dp.tensor(w), dp.tensor(b), padding=1)
    assert y.dtype == np.float32 and calls == [9 * c_in]
    ref = _direct_conv(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), (1, 1))
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-5, atol=1e-5)
    # The product itself: 8 blocks of 4 columns for K = 9 (the last one 2 wide), one call else.
    k = 9 if k_small else 36
    cols = RNG.standard_normal((k, 30)).astype(np.float32)
    w2 = RNG.standard_normal((4, k)).astype(np.float32)
    blocks = []

    class CountingXp:
        empty = staticmethod(np.empty)

        @staticmethod
        def matmul(a, b, out):
            blocks.append(b.shape[1])
            return np.matmul(a, b, out=out)

    np.testing.assert_allclose(real(w2, cols, CountingXp), w2 @ cols, rtol=1e-6, atol=1e-6)
    assert blocks == ([4] * 7 + [2] if k_small else [])


def test_blocked_product_in_a_real_first_layer_shape():
    # The benchmark's first layer at a quarter of its batch: 16 float32 images of 28x28, one
    # channel, 16 filters: M = 12544 columns, blocks of 2048 and a short last one.
    x = RNG.standard_normal((16, 1, 28, 28)).astype(np.float32)
    w = RNG.standard_normal((16, 1, 3, 3)).astype(np.float32)
    y = ops.conv2d(dp.tensor(x), dp.tensor(w), padding=1).numpy()
    ref = _direct_conv(x.astype(np.float64), w.astype(np.float64), None, (1, 1))
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


def test_bias_gradient_is_the_sum_of_the_output_gradient():
    x = dp.tensor(RNG.standard_normal((3, 2, 5, 5)), dtype=np.float64)
    w = dp.tensor(RNG.standard_normal((4, 2, 3, 3)), dtype=np.float64)
    for options in ({"padding": 1}, {"stride": 2}):  # a flat plan and a wide-row one
        b = dp.tensor(np.zeros(4), requires_grad=True, dtype=np.float64)
        y = ops.conv2d(x, w, b, **options)
        g = RNG.standard_normal(y.shape)
        y.backward(g)
        np.testing.assert_allclose(b.grad.numpy(), g.sum(axis=(0, 2, 3)), rtol=1e-12)


# --- max pool's scratch copy ----------------------------------------------------------------


@pytest.mark.parametrize(
    "kernel, stride, padding",
    [(2, None, 0), (3, 2, 1), ((2, 3), (1, 2), (1, 0)), (3, 1, 0)],
    ids=["2x2-tiles", "3x3-s2-pad1", "2x3-uneven", "3x3-overlapping"],
)
@pytest.mark.parametrize("channel_major", [False, True])
def test_max_pool_matches_a_reference_with_and_without_recording(
    kernel, stride, padding, channel_major
):
    base = RNG.standard_normal((2, 3, 7, 8)).astype(np.float32)
    base[0, 0, :2, :2] = 1.5  # a tied window: the first tap in row order must win
    data = base
    if channel_major:
        data = np.ascontiguousarray(base.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    sh, sw = (kh, kw) if stride is None else (stride, stride) if isinstance(stride, int) else stride
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    xp = np.pad(base, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    oh, ow = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    wins = np.stack(
        [
            xp[:, :, i : i + sh * (oh - 1) + 1 : sh, j : j + sw * (ow - 1) + 1 : sw]
            for i in range(kh)
            for j in range(kw)
        ]
    )
    ref, first = wins.max(axis=0), wins.argmax(axis=0)  # argmax: the first of equal values
    x = dp.tensor(data, requires_grad=True)
    y = ops.max_pool2d(x, kernel, stride, padding)
    assert np.array_equal(y.numpy(), ref)
    assert np.array_equal(y.creator.saved[0], first)
    with dp.no_grad():
        assert np.array_equal(ops.max_pool2d(x, kernel, stride, padding).numpy(), ref)
    g = RNG.standard_normal(y.shape).astype(np.float32)
    y.backward(g)
    gp = np.zeros(xp.shape, dtype=np.float32)
    for k in range(kh * kw):
        i, j = divmod(k, kw)
        target = gp[:, :, i : i + sh * (oh - 1) + 1 : sh, j : j + sw * (ow - 1) + 1 : sw]
        target += np.where(first == k, g, 0)
    expected = gp[:, :, ph : ph + 7, pw : pw + 8]
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-6, atol=1e-6)
