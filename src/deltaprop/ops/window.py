"""Sliding windows over images x (N, C, H, W): what convolution and pooling share.

Geometry, per spatial axis of size n, with kernel k, stride s, padding p and dilation d: the
padded axis has n + 2p positions, the dilated kernel spans d (k - 1) + 1 of them, and the
output has (n + 2p - d (k - 1) - 1) // s + 1.

Wide rows (convolution's fast path). Windows are read from a padded copy of each image plane
whose rows are ``row = wq * s_w`` long, ``wq`` >= the output width OW. Output position (oh, q)
of kernel tap (i, j) then sits at flat offset ``(i d_h + oh s_h) row + j d_w + q s_w`` of its
plane. With s_h = 1 that is ONE arithmetic run of OH * wq elements per tap and plane, which
NumPy copies (im2col) or adds (col2im) in a single inner loop instead of OH loops of OW
elements: about 4x faster on 14x14 planes. The wq - OW extra outputs per row are garbage (their
windows run past the row into the next one): forward drops them, and backward gives them a
zero gradient, so scattering them back adds exact zeros. Spare zero rows under each plane keep
the last tap's run inside its own plane.
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import xp_of
from ..errors import ShapeError


class Plan(NamedTuple):
    """Where the windows of one conv/pool call lie. ``rows`` x ``row`` is the size of each
    padded plane as allocated (spare rows and wide rows included)."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    in_hw: tuple[int, int]
    out_hw: tuple[int, int]
    rows: int
    row: int
    wq: int  # outputs computed per row: OW, plus the garbage ones of wide rows


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
    kernel is larger than the padded input. ``wide=False`` plans plain padded planes (OW
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
    if not wide:
        return Plan(kernel, stride, padding, dilation, in_hw, (oh, ow), hp, wp, ow)
    wq = -(-wp // sw)  # ceil: row = wq * sw >= wp, and wq >= ow
    row = wq * sw
    # One past the last element the last tap's run touches, relative to its plane's start.
    end = ((kh - 1) * dh + (oh - 1) * sh) * row + (kw - 1) * dw + (wq - 1) * sw + 1
    rows = max(hp, -(-end // row))
    return Plan(kernel, stride, padding, dilation, in_hw, (oh, ow), rows, row, wq)


def padded(x, p: Plan, fill: float = 0.0, channels_major: bool = False):
    """x (N, C, H, W) in planes of ``p.rows`` x ``p.row``, ``fill`` around it: an (N, C, rows,
    row) array, or x itself when it already is one (no padding, contiguous planes).

    ``channels_major`` allocates the memory as (C, N, rows, row) (the result is a transposed
    view): convolution's column buffer is then read with long runs (see :mod:`.conv`)."""
    n, c, h, w = x.shape
    it = x.itemsize
    if (
        (p.rows, p.row) == (h, w)
        and p.padding == (0, 0)
        and x.strides[3] == it
        and (h == 1 or x.strides[2] == w * it)
    ):
        return x
    xp = xp_of(x)
    shape = (c, n, p.rows, p.row) if channels_major else (n, c, p.rows, p.row)
    buf = xp.full(shape, fill, dtype=x.dtype) if fill else xp.zeros(shape, dtype=x.dtype)
    if channels_major:
        buf = buf.transpose(1, 0, 2, 3)
    ph, pw = p.padding
    buf[:, :, ph : ph + h, pw : pw + w] = x
    return buf


def zeros_like_padded(x_shape: tuple[int, ...], p: Plan, dtype, xp, channels_major: bool = False):
    """A zero (N, C, rows, row) buffer for gradients scattered back onto padded planes."""
    n, c = x_shape[:2]
    if channels_major:
        return xp.zeros((c, n, p.rows, p.row), dtype=dtype).transpose(1, 0, 2, 3)
    return xp.zeros((n, c, p.rows, p.row), dtype=dtype)


def unpad(buf, p: Plan):
    """The (N, C, H, W) part of a padded buffer (a view)."""
    (h, w), (ph, pw) = p.in_hw, p.padding
    return buf[:, :, ph : ph + h, pw : pw + w]


def windows(buf, p: Plan):
    """The windows of a padded buffer as a view (N, C, kh, kw, OH, wq), for wide-row plans:
    read by im2col, and written tap by tap (``[:, :, i, j]``, never two elements of one tap in
    the same place) by col2im."""
    (kh, kw), (sh, sw), (dh, dw) = p.kernel, p.stride, p.dilation
    it, (s_n, s_c) = buf.itemsize, buf.strides[:2]
    shape = (buf.shape[0], buf.shape[1], kh, kw, p.out_hw[0], p.wq)
    strides = (s_n, s_c, dh * p.row * it, dw * it, sh * p.row * it, sw * it)
    return xp_of(buf).lib.stride_tricks.as_strided(buf, shape, strides)


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
