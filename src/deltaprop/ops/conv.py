"""2-D convolution as im2col + one matrix product (PyTorch's layouts and arithmetic).

For x (N, C, H, W) and a weight w (O, C, kH, kW), each output is the cross-correlation

    y[n, o, a, b] = bias[o] + sum_{c, i, j} w[o, c, i, j] * xpad[n, c, a s_h + i d_h, b s_w + j d_w]

(what every deep-learning library calls convolution). Forward copies every window into the
column buffer ``cols`` (K, M) with K = C kH kW and M = N OH wq (im2col), then y = W2 @ cols with
W2 = w.reshape(O, K): one GEMM. Backward is two more GEMMs and col2im:

    dW2   = dY @ cols.T          (O, K)
    dcols = W2.T @ dY            (K, M), summed back onto the input positions (col2im: one
                                 strided add per kernel tap, kH kW large adds)

Memory layout: ``cols`` and the product are channel-major (K or O first, then N), so that
y = W2 @ cols needs no transpose; y is returned as an (N, O, OH, OW) view of contiguous
(O, N, OH, OW) memory. Elementwise ops keep that layout, the next convolution reads it as it
is, and the gradients arrive in it, so dY.reshape(O, M) is usually free. The windows are read
in one of two layouts (see :mod:`.window`): "same" convolutions (stride 1, OW = W: 3x3 with
padding 1, ...) read x's own planes flat, one shifted copy per tap with no padded copy of x,
so M = N OH OW exactly, y is the product itself, and col2im writes a contiguous gradient; the
others read a padded copy of x with wide rows, where M counts wq >= OW outputs per row, and
the extra ones are dropped from y in the same pass that adds the bias.

Speed (one thread; see BENCHMARKS.md's CNN section): the GEMMs are OpenBLAS's; around them,
a first layer's product with K <= 32 runs in cache-sized column blocks (:func:`_product`),
and the bias gradient is a matrix-vector product rather than a sum over rows.

The memo is ``cols`` (only when the weight needs a gradient) and W2 (only when x does); the
engine drops it as soon as this node's backward has run.
"""

from __future__ import annotations

from ..autograd.function import Function
from ..autograd.tensor import Tensor, as_tensor
from ..backend import xp_of
from ..checks import check_int, check_pair
from ..errors import ConfigError, ShapeError
from . import window


class Conv2d(Function):
    """y = conv2d(x, w) + b; inputs x (N, C, H, W), w (O, C, kH, kW), b (O,) when given."""

    __slots__ = ("plan", "x_shape", "w_shape")

    def forward(self, x, w, b=None):
        p = self.plan
        xp = xp_of(x)
        n, c = x.shape[:2]
        o = w.shape[0]
        (kh, kw), (oh, ow), wq = p.kernel, p.out_hw, p.wq
        self.x_shape, self.w_shape = x.shape, w.shape
        # The im2col copy: (C, kH, kW, N, OH wq) C-ordered, so each tap of each plane is one
        # long run in both source and destination. Into a fresh array: cols must never be a
        # view of x (zero_wrapped writes to it, and it is kept for backward).
        cols = xp.empty((c, kh, kw, n, oh * wq), dtype=x.dtype)
        if p.flat:
            _im2col_flat(x, p, cols)
        else:
            buf = window.padded(x, p, channels_major=True)
            cols.reshape(c, kh, kw, n, oh, wq)[...] = window.windows(buf, p).transpose(
                1, 2, 3, 0, 4, 5
            )
        cols = cols.reshape(c * kh * kw, n * oh * wq)
        window.zero_wrapped(cols, p)
        w2 = w.reshape(o, -1)
        y = _product(w2, cols, xp)  # the one GEMM: (O, N OH wq)
        self.save(cols if self.needs[1] else None, w2 if self.needs[0] else None)
        if wq == ow:
            if b is not None:
                y += b[:, None]  # y is fresh from the product: add in place
            return y.reshape(o, n, oh, ow).transpose(1, 0, 2, 3)
        # Drop the wide rows' garbage (adding the bias in the same pass): the output is then
        # contiguous, and the next ops (ReLU, pooling) run 2-4x faster on it than on a view.
        y = y.reshape(o, n, oh, wq)[:, :, :, :ow]
        out = xp.empty((o, n, oh, ow), dtype=y.dtype)
        if b is None:
            out[...] = y
        else:
            xp.add(y, b[:, None, None, None], out=out)
        return out.transpose(1, 0, 2, 3)

    def backward(self, gy):
        cols, w2 = self.saved
        p = self.plan
        xp = xp_of(gy)
        n, o = gy.shape[:2]
        (oh, ow), wq = p.out_hw, p.wq
        gt = gy.transpose(1, 0, 2, 3)  # (O, N, OH, OW): the layout forward produced
        if wq == ow:
            g2 = gt.reshape(o, -1)  # a view when gy kept forward's layout
        else:
            # The garbage outputs of wide rows get a zero gradient (see window's docstring).
            g2 = xp.empty((o, n, oh, wq), dtype=gy.dtype)
            g2[:, :, :, :ow] = gt
            g2[:, :, :, ow:] = 0
            g2 = g2.reshape(o, -1)
        needs = self.needs
        gx = gw = gb = None
        if needs[1]:
            # Both orders of this (O, M) x (M, K) product are one GEMM; OpenBLAS runs the one with
            # more output rows 15-35% faster (measured at 32 x 144 and 16 x 9, one thread).
            if cols.shape[0] > o:
                gw = cols.dot(g2.T).T.reshape(self.w_shape)  # a copy of an (O, K) array
            else:
                gw = g2.dot(cols.T).reshape(self.w_shape)
        if len(needs) > 2 and needs[2]:
            # A matrix-vector product, not g2.sum(axis=1): 3x faster on these long rows.
            gb = g2.dot(xp.ones(g2.shape[1], dtype=g2.dtype))
        if needs[0]:
            gcols = w2.T.dot(g2)  # (K, N * OH * wq)
            gx = _col2im(gcols, p, self.x_shape, xp)
        return gx, gw, gb


#: Output bytes per block of :func:`_product`'s blocked GEMM (well inside a core's L2 cache).
BLOCK_BYTES = 128 * 1024


def _product(w2, cols, xp):
    """w2 (O, K) @ cols (K, M), as one GEMM, or in column blocks when K <= 32 (a first layer:
    3x3 kernels on up to 3 channels). So short an inner dimension makes the product bound by
    writing its output, and OpenBLAS ran it 1.5-2.2x faster (float32, one thread; K 9 and 27,
    M 50176) in blocks of 128 KB of output, which stay in cache; at K >= 48, and in float64,
    the blocks gained nothing or lost a little, so those stay one call."""
    o, k = w2.shape
    m = cols.shape[1]
    step = max(1, BLOCK_BYTES // (o * cols.itemsize))
    if k > 32 or cols.itemsize > 4 or w2.dtype != cols.dtype or m < 4 * step:
        return w2.dot(cols)
    y = xp.empty((o, m), dtype=cols.dtype)
    for start in range(0, m, step):
        xp.matmul(w2, cols[:, start : start + step], out=y[:, start : start + step])
    return y


def _im2col_flat(x, p: window.Plan, cols) -> None:
    """Fill cols (C, kH, kW, N, OH OW) with the windows of a flat plan, straight from x's
    planes: one copy per kernel tap, zeros where it reads the vertical padding."""
    planes = window.flat_planes(x)  # (C, N, H W)
    c, n, size = planes.shape
    joined = p.out_hw[0] == p.in_hw[0]
    if joined:
        # OH = H: output planes line up with x's, so the N planes are one run per channel and
        # each tap one copy of N H W values (a view for channel-major x or C = 1, else one
        # copy of x): 25% faster than N copies of H W. The reads that cross into a
        # neighbouring plane are the vertical padding's, zeroed below as in the general case.
        src = planes.reshape(c, n * size)
    for i, j, shift, lo, hi in window.flat_taps(p):
        tap = cols[:, i, j]  # (C, N, OH OW)
        if joined:
            a, b = _run(shift, n * size)
            tap.reshape(c, n * size)[:, a:b] = src[:, a + shift : b + shift]
        else:
            tap[:, :, lo:hi] = planes[:, :, lo + shift : hi + shift]
        tap[:, :, :lo] = 0
        tap[:, :, hi:] = 0


def _run(shift: int, total: int) -> tuple[int, int]:
    """The range [a, b) of 0..total whose reads at a + shift .. b + shift stay in 0..total."""
    a = min(total, max(0, -shift))
    return a, max(a, min(total, total - shift))


def _col2im(gcols, p: window.Plan, x_shape, xp):
    """Sum the columns (C kH kW, N OH wq) back onto the input positions: (N, C, H, W)."""
    n, c = x_shape[:2]
    (kh, kw), (oh, _), wq = p.kernel, p.out_hw, p.wq
    window.zero_wrapped(gcols, p)  # those gradients belong to padding: they must add nothing
    g6 = gcols.reshape(c, kh, kw, n, oh * wq)
    if p.flat:
        return _col2im_flat(g6, p, x_shape, xp)
    buf = window.zeros_like_padded(x_shape, p, gcols.dtype, xp, channels_major=True)
    targets = window.windows(buf, p)  # (N, C, kH, kW, OH, wq), writable, into the zeros
    g6 = g6.reshape(c, kh, kw, n, oh, wq)
    for _, i, j in window.taps(p):
        target = targets[:, :, i, j]
        target += g6[:, i, j].transpose(1, 0, 2, 3)
    return window.unpad(buf, p)


def _col2im_flat(g6, p: window.Plan, x_shape, xp):
    """col2im of a flat plan: g6 (C, kH, kW, N, OH OW) added onto x's planes, one shifted add
    per tap, into a contiguous (C, N, H, W) gradient returned as its (N, C, H, W) view."""
    n, c, h, w = x_shape
    size = h * w
    gx = xp.empty((c, n, size), dtype=g6.dtype)
    todo = window.flat_taps(p)
    joined = p.out_hw[0] == h
    if joined:
        # As in im2col: each tap one add over the N planes as one run (2x faster than N adds
        # of H W), once the entries that would land in a neighbouring plane (the vertical
        # padding's) are zeroed.
        for i, j, _, lo, hi in todo:
            g6[:, i, j, :, :lo] = 0
            g6[:, i, j, :, hi:] = 0
    # The tap that reads every element in place (the centre of an odd kernel with "same"
    # padding) writes gx whole: no zero fill, and one pass fewer over it.
    first = next((t for t in todo if t[2:] == (0, 0, size)), None)
    if first is None:
        gx[...] = 0
    else:
        todo.remove(first)
        gx[...] = g6[:, first[0], first[1], :, :size]
    for i, j, shift, lo, hi in todo:
        if joined:
            a, b = _run(shift, n * size)
            target = gx.reshape(c, n * size)[:, a + shift : b + shift]
            target += g6[:, i, j].reshape(c, n * size)[:, a:b]
        else:
            target = gx[:, :, lo + shift : hi + shift]
            target += g6[:, i, j, :, lo:hi]
    return gx.reshape(c, n, h, w).transpose(1, 0, 2, 3)


def conv_plan(x_shape, w_shape, stride, padding, dilation, who: str) -> window.Plan:
    """Checked geometry of a convolution: x (N, C, H, W) against w (O, C, kH, kW).

    Raises ShapeError (starting with ``who``, e.g. the layer) for other shapes, a channel count
    that differs from the weight's, or a kernel larger than the padded input; ConfigError for a
    stride or dilation < 1 or a padding < 0."""
    stride = check_pair(stride, "stride")
    padding = check_pair(padding, "padding", minimum=0)
    dilation = check_pair(dilation, "dilation")
    if len(w_shape) != 4:
        raise ShapeError(f"{who}: weight must be (C_out, C_in, kH, kW), got shape {w_shape}")
    c_in = w_shape[1]
    if len(x_shape) != 4 or x_shape[1] != c_in:
        raise ShapeError(f"{who}: expected input (N, {c_in}, H, W), got {tuple(x_shape)}")
    return window.plan(x_shape[2:], tuple(w_shape[2:]), stride, padding, dilation, who)


def conv2d(
    x,
    weight: Tensor,
    bias: Tensor | None = None,
    stride=1,
    padding=0,
    dilation=1,
    groups: int = 1,
    *,
    who: str = "conv2d",
) -> Tensor:
    """2-D convolution (cross-correlation) of x (N, C_in, H, W) with weight (C_out, C_in, kH, kW)
    -- PyTorch's NCHW and weight layouts -- plus bias (C_out,) when given.

    ``stride``, ``padding`` (zeros) and ``dilation`` are an int or an (h, w) pair. Output:
    (N, C_out, OH, OW) with OH = (H + 2 p_h - d_h (kH - 1) - 1) // s_h + 1 (OW alike).
    ``groups`` must be 1 (grouped and depthwise convolutions are not implemented). ``who``
    names the caller in error messages (a layer passes its own description).
    """
    if groups != 1:
        groups = check_int(groups, "groups")
        raise ConfigError(f"groups: only groups=1 is supported, got {groups}")
    if not isinstance(x, Tensor):
        x = as_tensor(x, like=weight)
    w_shape = weight.data.shape
    p = conv_plan(x.data.shape, w_shape, stride, padding, dilation, who)
    if bias is None:
        return Conv2d.apply(x, weight, plan=p)
    if tuple(bias.shape) != (w_shape[0],):
        raise ShapeError(f"{who}: bias must have shape ({w_shape[0]},), got {tuple(bias.shape)}")
    return Conv2d.apply(x, weight, as_tensor(bias, like=weight), plan=p)
