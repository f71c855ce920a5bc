"""Sliding windows over images x (N, C, H, W): what convolution and pooling share.

Geometry, per spatial axis of size n, with kernel k, stride s, padding p and dilation d: the
padded axis has n + 2p positions, the dilated kernel spans d (k - 1) + 1 of them, and the
output has (n + 2p - d (k - 1) - 1) // s + 1.

Convolution copies every window into a column buffer (im2col) and scatters gradients back
(col2im). Both are fast when each kernel tap of each image plane is ONE arithmetic run of
memory, which NumPy copies or adds in a single inner loop instead of OH loops of OW elements
(about 4x faster on 14x14 planes). Two layouts give such runs:

- Flat planes ("same" convolutions: stride 1 and OW = W, e.g. 3x3 with padding 1). x's planes
  are read where they are, each as one run of H W values, with no padded copy at all: output
  position m = oh W + q of kernel tap (i, j) reads the flat plane at m + shift, shift =
  (i d_h - p_h) W + j d_w - p_w. A read before the plane's start or past its end is vertical
  padding (:func:`flat_taps` gives the range of m that reads inside). A read past a row's edge
  lands on the neighbouring row instead of the horizontal padding, so im2col zeroes those
  columns of the buffer afterwards and col2im zeroes them in the gradient before scattering it
  (:func:`zero_wrapped`). No output is computed twice or dropped, so the GEMMs of :mod:`.conv`
  have exactly N OH OW columns, and col2im writes a contiguous gradient.
- Wide rows (every other convolution), in a padded copy of x. Rows are ``row = wq * s_w``
  long, ``wq`` >= the output width OW, with the padding stored; output position (oh, q) of tap
  (i, j) sits at flat offset ``(i d_h + oh s_h) row + j d_w + q s_w`` of its plane. The wq - OW
  extra outputs per row are garbage (their windows run past the row into the next one):
  forward drops them, and backward gives them a zero gradient, so scattering them back adds
  exact zeros. Spare zero rows below each plane keep the last taps' runs inside their plane.

Pooling uses plain padded planes (OW outputs per row, no spare rows) and reads its taps as
strided slices (:func:`tap`).
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import xp_of
from ..errors import ShapeError


class Plan(NamedTuple):
    """Where the windows of one conv/pool call lie. ``rows`` x ``row`` is the size of each
    padded plane as allocated (spare rows and wide rows included); for a flat plan, x's own
    H x W plane (nothing is allocated)."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    in_hw: tuple[int, int]
    out_hw: tuple[int, int]
    rows: int
    row: int
    wq: int  # outputs computed per row: OW, plus the garbage ones of wide rows
    at: tuple[int, int] = (0, 0)  # where x's element (0, 0) sits in the allocated plane
    flat: bool = False  # x's own planes, read flat (no padded copy): see the module doc
    wrapped: bool = False  # flat, with padding: reads past a row's edge must be zeroed


def plan(
    in_hw: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    who: str,
    wide: bool = True,
) -> Plan:
    """The Plan for planes of size ``in_hw``; ShapeError (starting with ``who``) when the dilated
    kernel is larger than the padded input. For convolution (``wide=True``): flat planes when
    stride is 1 and OW = W, wide rows otherwise. ``wide=False`` plans plain padded planes (OW
    outputs per row, no spare rows): pooling reads its taps as strided slices."""
    (h, w), (kh, kw), (sh, sw), (ph, pw), (dh, dw) = in_hw, kernel, stride, padding, dilation
    hp, wp = h + 2 * ph, w + 2 * pw
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    if hp < span_h or wp < span_w:
        dilated = f" (dilated: {span_h}x{span_w})" if (dh, dw) != (1, 1) else ""
        raise ShapeError(
            f"{who}: the kernel {kh}x{kw}{dilated} is larger than the input's {h}x{w} plane "
            f"padded by {ph},{pw} ({hp}x{wp})"
        )
    oh, ow = (hp - span_h) // sh + 1, (wp - span_w) // sw + 1
    geometry = (kernel, stride, padding, dilation, in_hw, (oh, ow))
    if not wide:
        return Plan(*geometry, hp, wp, ow, at=(ph, pw))
    if (sh, sw) == (1, 1) and ow == w:
        return Plan(*geometry, h, w, ow, flat=True, wrapped=pw > 0)
    wq = -(-wp // sw)  # ceil: row = wq * sw >= wp, and wq >= ow
    row = wq * sw
    # One past the last element the last tap's run touches, relative to its plane's start.
    end = ((kh - 1) * dh + (oh - 1) * sh) * row + (kw - 1) * dw + (wq - 1) * sw + 1
    rows = max(hp, -(-end // row))
    return Plan(*geometry, rows, row, wq, at=(ph, pw))


def padded(x, p: Plan, fill: float = 0.0, channels_major: bool = False):
    """x (N, C, H, W) in planes of ``p.rows`` x ``p.row``, ``fill`` around it: an (N, C, rows,
    row) array, or x itself when it already is one (no padding, contiguous planes).

    ``channels_major`` allocates the memory as (C, N, rows, row) (the result is a transposed
    view): convolution's column buffer is then read with long runs (see :mod:`.conv`)."""
    n, c, h, w = x.shape
    it = x.itemsize
    if (
        (p.rows, p.row) == (h, w)
        and p.at == (0, 0)
        and x.strides[3] == it
        and (h == 1 or x.strides[2] == w * it)
    ):
        return x
    xp = xp_of(x)
    shape = (c, n, p.rows, p.row) if channels_major else (n, c, p.rows, p.row)
    buf = xp.full(shape, fill, dtype=x.dtype) if fill else xp.zeros(shape, dtype=x.dtype)
    if channels_major:
        buf = buf.transpose(1, 0, 2, 3)
    r, c = p.at
    buf[:, :, r : r + h, c : c + w] = x
    return buf


def zeros_like_padded(x_shape: tuple[int, ...], p: Plan, dtype, xp, channels_major: bool = False):
    """A zero (N, C, rows, row) buffer for gradients scattered back onto padded planes."""
    n, c = x_shape[:2]
    if channels_major:
        return xp.zeros((c, n, p.rows, p.row), dtype=dtype).transpose(1, 0, 2, 3)
    return xp.zeros((n, c, p.rows, p.row), dtype=dtype)


def tiles(p: Plan) -> bool:
    """Whether the windows of a plain plan cover the input exactly once: no padding, stride =
    kernel (no dilation), and H, W multiples of it (the usual 2x2 pool of even planes)."""
    (kh, kw), (oh, ow) = p.kernel, p.out_hw
    return (
        p.padding == (0, 0)
        and p.stride == p.kernel
        and p.dilation == (1, 1)
        and p.in_hw == (oh * kh, ow * kw)
    )


def gradient_buffer(x_shape, p: Plan, dtype, xp, channels_major: bool = False):
    """The (N, C, rows, row) buffer a pool's backward scatters its taps into: uninitialised when
    the windows tile the input (every element is then written by exactly one tap), else zeros."""
    if not tiles(p):
        return zeros_like_padded(x_shape, p, dtype, xp, channels_major)
    n, c = x_shape[:2]
    if channels_major:
        return xp.empty((c, n, p.rows, p.row), dtype=dtype).transpose(1, 0, 2, 3)
    return xp.empty((n, c, p.rows, p.row), dtype=dtype)


def unpad(buf, p: Plan):
    """The (N, C, H, W) part of a padded buffer (a view)."""
    (h, w), (r, c) = p.in_hw, p.at
    return buf[:, :, r : r + h, c : c + w]


def windows(buf, p: Plan):
    """The windows of a padded buffer as a view (N, C, kh, kw, OH, wq), for wide-row plans: read
    by im2col, and written tap by tap (``[:, :, i, j]``, never two elements of one tap in the
    same place) by col2im."""
    (kh, kw), (sh, sw), (dh, dw) = p.kernel, p.stride, p.dilation
    it, (s_n, s_c) = buf.itemsize, buf.strides[:2]
    shape = (buf.shape[0], buf.shape[1], kh, kw, p.out_hw[0], p.wq)
    strides = (s_n, s_c, dh * p.row * it, dw * it, sh * p.row * it, sw * it)
    return xp_of(buf).lib.stride_tricks.as_strided(buf, shape, strides)


def flat_taps(p: Plan) -> list[tuple[int, int, int, int, int]]:
    """(i, j, shift, lo, hi) per kernel tap of a flat plan, row by row: output position m of a
    plane (0 <= m < OH W) reads the flat plane at m + shift, inside it (0 <= m + shift < H W)
    exactly for lo <= m < hi; outside that range the read is vertical padding (zero)."""
    (h, w), (ph, pw), (dh, dw) = p.in_hw, p.padding, p.dilation
    m, size = p.out_hw[0] * w, h * w
    out = []
    for _, i, j in taps(p):
        shift = (i * dh - ph) * w + j * dw - pw
        lo = min(m, max(0, -shift))
        out.append((i, j, shift, lo, max(lo, min(m, size - shift))))
    return out


def flat_planes(x):
    """x (N, C, H, W) as (C, N, H W): a view when each plane is one run of memory (x as it comes
    from a convolution, a pool or a data batch), else a copy."""
    n, c, h, w = x.shape
    return x.transpose(1, 0, 2, 3).reshape(c, n, h * w)


def zero_wrapped(cols, p: Plan) -> None:
    """Zero, in place, the entries of a wrapped plan's columns (C kH kW, N OH OW) whose window
    reads past a row's edge: those read a neighbouring row where the padding would be. Only a
    few columns q per kernel column j (pw of them at most on each side)."""
    if not p.wrapped:
        return
    (kh, kw), w, pw, dw, ow = p.kernel, p.in_hw[1], p.padding[1], p.dilation[1], p.out_hw[1]
    # (C, kH, kW, N OH, OW): the zeroed entries of one column q form one strided axis of N OH.
    c6 = cols.reshape(-1, kh, kw, cols.shape[1] // ow, ow)
    for j in range(kw):
        x_col = j * dw - pw  # x's column read by output column 0 of this tap
        left, right = min(ow, max(0, -x_col)), max(0, min(ow, w - x_col))
        for q in (*range(left), *range(right, ow)):
            c6[:, :, j, :, q] = 0


def tap(buf, p: Plan, i: int, j: int):
    """Kernel tap (i, j) of every window of a plain (not wide) plan: a writable strided slice
    (N, C, OH, OW) of ``buf``. (For wide plans index :func:`windows`: ``[:, :, i, j]``.)"""
    (sh, sw), (dh, dw), (oh, ow) = p.stride, p.dilation, p.out_hw
    r, c = i * dh, j * dw
    return buf[:, :, r : r + sh * (oh - 1) + 1 : sh, c : c + sw * (ow - 1) + 1 : sw]


def taps(p: Plan):
    """(index, i, j) of every kernel tap, row by row (PyTorch's order for max pool ties)."""
    kw = p.kernel[1]
    return [(k, k // kw, k % kw) for k in range(p.kernel[0] * kw)]


def overlapping(p: Plan) -> bool:
    """Whether an input position can lie in two windows (then gradients add up)."""
    (kh, kw), (sh, sw), (dh, dw) = p.kernel, p.stride, p.dilation
    return sh < dh * (kh - 1) + 1 or sw < dw * (kw - 1) + 1
