"""Every op, from one table: float64 finite-difference gradient checks and PyTorch parity.

Each case is written once as ``fn(F, *inputs)``, where ``F`` is either ``deltaprop.ops`` or a thin
adapter that maps the same names onto torch, so both libraries run literally the same expression.
Inputs are drawn from a domain that keeps them away from kinks (relu and abs at 0, clip bounds,
max ties, huber at |d| = delta), where central differences would be wrong rather than the engine.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pytest

import deltaprop as dp
import deltaprop.ops as DP
from deltaprop.autograd import gradcheck_errors

N_SEEDS = 20  # seeded inputs per op; the shape sets of a case are cycled over the seeds
IMAGE_SEEDS = 2  # per shape set of an image op (conv, pool): each gradcheck costs more
TOL = 1e-6


class Case(NamedTuple):
    name: str
    fn: Callable[..., Any]
    shape_sets: tuple  # tuples of shapes, one shape per input
    doms: tuple  # per input: a domain name; "~" in front = a constant (no gradient)
    valid: Callable[..., bool] | None
    parity: bool
    seeds: int  # how many seeded inputs the gradient check draws


CASES: list[Case] = []


def case(name, fn, *shape_sets, dom="real", valid=None, parity=True, seeds=N_SEEDS):
    n_in = len(shape_sets[0])
    doms = (dom,) * n_in if isinstance(dom, str) else tuple(dom)
    CASES.append(Case(name, fn, shape_sets, doms, valid, parity, seeds))


def image_case(name, fn, *shape_sets, **kwargs):
    """A case of an image op: every shape set checked IMAGE_SEEDS times (not 20 in all)."""
    case(name, fn, *shape_sets, seeds=IMAGE_SEEDS * len(shape_sets), **kwargs)


def _draw(dom: str, shape, rng) -> np.ndarray:
    dom = dom.lstrip("~")
    n = math.prod(shape)
    if dom == "real":
        out = rng.standard_normal(n)
    elif dom == "nz":  # |x| >= 0.2: away from the kink at 0
        out = rng.choice([-1.0, 1.0], n) * rng.uniform(0.2, 2.0, n)
    elif dom == "pos":
        out = rng.uniform(0.5, 2.0, n)
    elif dom == "prob":
        out = rng.uniform(0.05, 0.95, n)
    elif dom == "distinct":  # all values at least 0.15 apart: no ties for max/min
        out = (rng.permutation(n) - n / 2) * 0.25 + rng.uniform(-0.05, 0.05, n)
    elif dom == "simplex":
        p = rng.uniform(0.1, 1.0, shape)
        return p / p.sum(axis=-1, keepdims=True)
    elif dom.startswith("int"):  # class labels 0..k-1
        return np.asarray(rng.integers(0, int(dom[3:]), shape))
    else:  # pragma: no cover - a typo in the table
        raise ValueError(dom)
    return np.asarray(out, dtype=np.float64).reshape(shape)


def make_inputs(c: Case, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    shapes = c.shape_sets[seed % len(c.shape_sets)]
    for _ in range(1000):
        arrays = [_draw(d, s, rng) for d, s in zip(c.doms, shapes)]
        if c.valid is None or c.valid(*arrays):
            return arrays
    raise AssertionError(f"{c.name}: no valid input drawn")  # pragma: no cover


def needs_grad(dom: str) -> bool:
    return not dom.startswith("~") and not dom.startswith("int")


def far(margin=0.05):
    """Valid when every |a - b| (broadcast) is at least ``margin``: no ties, no kinks."""
    return lambda a, b: bool(np.all(np.abs(a - b) > margin))


def far_from(*points, margin=0.05):
    return lambda x, *rest: all(bool(np.all(np.abs(x - p) > margin)) for p in points)


def cond_for(shape) -> np.ndarray:
    return np.asarray(np.arange(math.prod(shape)).reshape(shape) % 3 != 1)


# --- the table --------------------------------------------------------------------------------

BIN = (
    ((3, 4), (3, 4)),
    ((3, 1), (1, 4)),
    ((1,), (2, 3)),
    ((), (2, 3)),
    ((1, 1), (2, 1)),
    ((2, 3, 4), (3, 1)),
    ((2, 1), ()),
    ((), ()),
)
UN = (((3, 4),), ((1,),), ((),), ((1, 1),), ((2, 1, 3),), ((5,),))

case("add", lambda F, a, b: a + b, *BIN)
case("add-fn", lambda F, a, b: F.add(a, b), *BIN)
case("sub", lambda F, a, b: a - b, *BIN)
case("sub-fn", lambda F, a, b: F.sub(a, b), *BIN)
case("mul", lambda F, a, b: a * b, *BIN)
case("mul-fn", lambda F, a, b: F.mul(a, b), *BIN)
case("div", lambda F, a, b: a / b, *BIN, dom=("real", "nz"))
case("div-fn", lambda F, a, b: F.div(a, b), *BIN, dom=("real", "nz"))
case("pow-tensor", lambda F, a, b: a**b, *BIN, dom=("pos", "real"))
case("pow-tensor-fn", lambda F, a, b: F.pow(a, b), *BIN, dom=("pos", "real"))
case("radd-scalar", lambda F, a: 2.5 + a, *UN)
case("rsub-scalar", lambda F, a: 1.5 - a, *UN)
case("sub-scalar", lambda F, a: a - 0.75, *UN)
case("mul-scalar", lambda F, a: a * -3.0 + 2 * a, *UN)
case("div-scalar", lambda F, a: a / 4.0, *UN)
case("rdiv-scalar", lambda F, a: 2.0 / a, *UN, dom="nz")
case("rpow-scalar", lambda F, a: 2.0**a, *UN)
case("pow-int", lambda F, a: a**3, *UN)
case("pow-2", lambda F, a: a**2, *UN)
case("pow-half", lambda F, a: a**0.5, *UN, dom="pos")
case("pow-neg", lambda F, a: a**-1.5, *UN, dom="pos")
case("pow-fn-scalar", lambda F, a: F.pow(a, 2.5), *UN, dom="pos")
case("neg", lambda F, a: -a, *UN)
case("neg-fn", lambda F, a: F.neg(a), *UN)
case("exp", lambda F, a: F.exp(a), *UN)
case("exp-method", lambda F, a: a.exp(), *UN)
case("log", lambda F, a: F.log(a), *UN, dom="pos")
case("log-method", lambda F, a: a.log(), *UN, dom="pos")
case("sqrt", lambda F, a: F.sqrt(a), *UN, dom="pos")
case("sqrt-method", lambda F, a: a.sqrt(), *UN, dom="pos")
case("abs", lambda F, a: F.abs(a), *UN, dom="nz")
case("abs-builtin", lambda F, a: abs(a), *UN, dom="nz")
case("clip", lambda F, a: F.clip(a, -0.5, 0.5), *UN, valid=far_from(-0.5, 0.5))
case("clip-method", lambda F, a: a.clip(-1.0, 0.25), *UN, valid=far_from(-1.0, 0.25))
case("clip-hi-only", lambda F, a: F.clip(a, None, 0.3), *UN, valid=far_from(0.3))
case("clip-lo-only", lambda F, a: F.clip(a, -0.3, None), *UN, valid=far_from(-0.3))
case("maximum", lambda F, a, b: F.maximum(a, b), *BIN, valid=far())
case("minimum", lambda F, a, b: F.minimum(a, b), *BIN, valid=far())
case("maximum-scalar", lambda F, a: F.maximum(a, 0.2), *UN, valid=far_from(0.2))
case("minimum-scalar", lambda F, a: F.minimum(a, -0.1), *UN, valid=far_from(-0.1))
case(
    "where",
    lambda F, a, b: F.where(cond_for(np.broadcast_shapes(a.shape, b.shape)), a, b),
    *BIN,
)
case("self-outer", lambda F, a: a * F.transpose(a) + a, ((3, 1),), ((1, 1),), ((1, 4),))
case("self-div-sum", lambda F, a: a / F.sum(a * a), ((3, 4),), ((1,),), ((),))
case("where-scalar", lambda F, a: F.where(cond_for(a.shape), a, 0.5), *UN)

# Reductions: every axis form (None, int, negative, tuple, negative tuple), keepdims both.
_RED_SHAPES = {
    None: (((2, 3, 4),), ((5,),), ((),), ((1, 1),), ((1, 3, 1),)),
    0: (((2, 3, 4),), ((5,),), ((1, 3, 1),), ((1,),)),
    -1: (((2, 3, 4),), ((5,),), ((1, 3, 1),), ((3, 1),)),
    1: (((2, 3, 4),), ((1, 3, 1),), ((3, 1),)),
    (0, 2): (((2, 3, 4),), ((1, 3, 1),)),
    (-1, 0): (((2, 3, 4),), ((1, 3, 2),)),
    (0, 1, 2): (((2, 3, 2),),),
}
for _op in ("sum", "mean", "max", "min"):
    for _axis, _shapes in _RED_SHAPES.items():
        for _keep in (False, True):
            case(
                f"{_op}-axis{_axis}-keep{_keep}",
                lambda F, x, op=_op, axis=_axis, keep=_keep: getattr(F, op)(x, axis, keep),
                *_shapes,
                dom="distinct",
            )
for _op in ("sum", "mean", "max", "min"):
    case(f"{_op}-method", lambda F, x, op=_op: getattr(x, op)(), *UN, dom="distinct")
    case(
        f"{_op}-method-kw",
        lambda F, x, op=_op: getattr(x, op)(axis=1, keepdims=True),
        ((2, 3, 4),),
        ((3, 1),),
        dom="distinct",
        parity=_op in ("sum", "mean"),  # torch's max(dim) returns (values, indices)
    )

# Shapes.
case("reshape", lambda F, x: F.reshape(x, (4, 3)), ((3, 4),), ((2, 6),), ((12,),))
case("reshape-varargs", lambda F, x: x.reshape(2, -1), ((3, 4),), ((2, 1, 3),))
case("reshape-0d", lambda F, x: F.reshape(x, ()), ((1,),), ((1, 1),), ((),))
case("flatten", lambda F, x: F.flatten(x), ((2, 3, 2),), ((3, 1, 4),), ((2, 1),))
case("flatten-0", lambda F, x: F.flatten(x, 0), ((2, 3, 2),), ((1, 1),))
case("T", lambda F, x: x.T, ((3, 4),), ((1, 3),), ((2, 1),), ((1, 1),))
case("transpose-reverse", lambda F, x: F.transpose(x), ((2, 3, 4),), ((3, 4),), ((1, 2, 1),))
case("transpose-axes", lambda F, x: F.transpose(x, (1, 0, 2)), ((2, 3, 4),), ((1, 3, 1),))
case("transpose-varargs", lambda F, x: F.transpose(x, 2, 0, 1), ((2, 3, 4),))
case("transpose-negative", lambda F, x: F.transpose(x, (-1, 0, 1)), ((2, 3, 4),))

_MASK = np.array([[True, False, True, True, False]] * 2 + [[False] * 5] + [[True] * 5])
_GETITEM = {
    "slice": lambda F, x: x[1:3],
    "slice-2d": lambda F, x: x[1:, :-2],
    "int": lambda F, x: x[1],
    "negative-int": lambda F, x: x[-1, 2],
    "none": lambda F, x: x[:, None, 1:4],
    "ellipsis": lambda F, x: x[..., 2],
    "ellipsis-none": lambda F, x: x[None, ..., 1:2],
    "bool-mask": lambda F, x: F.getitem(x, _MASK),
    "bool-rows": lambda F, x: F.getitem(x, np.array([True, False, True, True])),
    "int-array-repeated": lambda F, x: F.getitem(x, np.array([0, 0, 2, 0])),
    "int-list-repeated": lambda F, x: F.getitem(x, [3, 1, 3]),
    "int-array-2d": lambda F, x: F.getitem(x, np.array([[0, 1], [1, 1]])),
    "int-pairs-repeated": lambda F, x: F.getitem(x, (np.array([0, 2, 0]), np.array([1, 1, 1]))),
    "slice-and-array": lambda F, x: F.getitem(x, (slice(1, None), np.array([0, 0, 3]))),
}
for _name, _fn in _GETITEM.items():
    case(f"getitem-{_name}", _fn, ((4, 5),))
case("getitem-step", lambda F, x: x[::2, 1::2], ((4, 5),))
case("getitem-negative-step", lambda F, x: x[::-2], ((4, 5),), parity=False)  # torch lacks it
case("getitem-0d-from-1d", lambda F, x: x[0], ((1,),), ((3,),))

case("concatenate-0", lambda F, a, b: F.concatenate([a, b], 0), ((2, 3), (1, 3)), ((2, 3), (4, 3)))
case("concatenate-1", lambda F, a, b: F.concatenate([a, b], axis=1), ((2, 3), (2, 1)))
case(
    "concatenate-neg3",
    lambda F, a, b, c: F.concatenate([a, b, c], axis=-1),
    ((2, 2), (2, 1), (2, 3)),
    ((1, 1, 2), (1, 1, 1), (1, 1, 1)),
)
case("concatenate-reuse", lambda F, a: F.concatenate([a, a * 2.0, a], 0), ((2, 3),), ((1,),))
case("stack-0", lambda F, a, b: F.stack([a, b]), ((2, 3), (2, 3)), ((), ()), ((1,), (1,)))
case("stack-1", lambda F, a, b: F.stack([a, b], axis=1), ((2, 3), (2, 3)))
case("stack-neg", lambda F, a, b, c: F.stack([a, b, c], axis=-1), ((2, 3),) * 3, ((1, 2),) * 3)
case("stack-reuse", lambda F, a: F.stack([a, a, -a], axis=0), ((2, 2),))

_MATMUL = (
    ((3,), (3,)),
    ((2, 3), (3,)),
    ((3,), (3, 4)),
    ((2, 3), (3, 4)),
    ((1, 1), (1, 1)),
    ((2, 2, 3), (3, 4)),
    ((3,), (2, 3, 2)),
    ((2, 2, 3), (2, 3, 2)),
    ((2, 1, 2, 3), (3, 3, 2)),
    ((1, 2, 3), (2, 3, 1)),
)
case("matmul", lambda F, a, b: a @ b, *_MATMUL)
case("matmul-fn", lambda F, a, b: F.matmul(a, b), *_MATMUL)
_LIN = (
    ((4, 3), (3, 2), (2,)),
    ((2, 2, 3), (3, 2), (2,)),
    ((1, 3), (3, 1), (1,)),
    ((3,), (3, 2), (2,)),
)
case("linear", lambda F, x, w, b: F.linear(x, w, b), *_LIN)
case("linear-data-x", lambda F, x, w, b: F.linear(x, w, b), *_LIN, dom=("~real", "real", "real"))
case("linear-nobias", lambda F, x, w: F.linear(x, w), *[s[:2] for s in _LIN])
case(
    "linear-nobias-data-x",
    lambda F, x, w: F.linear(x, w),
    *[s[:2] for s in _LIN],
    dom=("~real", "real"),
)

# Activations.
case("relu", lambda F, x: F.relu(x), *UN, dom="nz")
case("relu-method", lambda F, x: x.relu(), *UN, dom="nz")
case("leaky_relu", lambda F, x: F.leaky_relu(x), *UN, dom="nz")
case("leaky_relu-0.2", lambda F, x: F.leaky_relu(x, 0.2), *UN, dom="nz")
case("elu", lambda F, x: F.elu(x), *UN, dom="nz")
case("elu-alpha", lambda F, x: F.elu(x, alpha=0.5), *UN, dom="nz")
case("gelu", lambda F, x: F.gelu(x), *UN)
case("gelu-tanh", lambda F, x: F.gelu(x, approximate="tanh"), *UN)
case("sigmoid", lambda F, x: F.sigmoid(x), *UN)
case("sigmoid-method", lambda F, x: x.sigmoid(), *UN)
case("tanh", lambda F, x: F.tanh(x), *UN)
case("tanh-method", lambda F, x: x.tanh(), *UN)
_SM = (((3, 4),), ((2, 3, 2),), ((1, 5),), ((4, 1),), ((1,),))
case("softmax", lambda F, x: F.softmax(x), *_SM)
case("softmax-0", lambda F, x: F.softmax(x, axis=0), *_SM)
case("softmax-1", lambda F, x: F.softmax(x, axis=1), *_SM[:4])
case("log_softmax", lambda F, x: F.log_softmax(x), *_SM)
case("log_softmax-0", lambda F, x: F.log_softmax(x, axis=0), *_SM)
case("log_softmax-1", lambda F, x: F.log_softmax(x, axis=1), *_SM[:4])

# Losses.
_REDUCTIONS = ("mean", "sum", "none")
_CE3 = (((4, 3), (4,)), ((1, 3), (1,)), ((7, 3), (7,)))
_PAIRS = (((3, 4), (3, 4)), ((5,), (5,)), ((), ()), ((1, 1), (1, 1)))
for _r in _REDUCTIONS:
    case(f"cross_entropy-labels-{_r}", lambda F, x, t, r=_r: F.cross_entropy(x, t, r), *_CE3,
         dom=("real", "int3"))  # fmt: skip
    case(
        f"cross_entropy-probs-{_r}",
        lambda F, x, t, r=_r: F.cross_entropy(x, t, reduction=r),
        ((4, 3), (4, 3)),
        ((1, 5), (1, 5)),
        ((3, 1), (3, 1)),
        dom=("real", "simplex"),
    )
    case(
        f"cross_entropy-probs-const-{_r}",
        lambda F, x, t, r=_r: F.cross_entropy(x, t, reduction=r),
        ((4, 3), (4, 3)),
        dom=("real", "~simplex"),
    )
    case(f"nll_loss-{_r}", lambda F, x, t, r=_r: F.nll_loss(x, t, r), *_CE3, dom=("real", "int3"))
    case(
        f"nll_loss-log_softmax-{_r}",
        lambda F, x, t, r=_r: F.nll_loss(F.log_softmax(x), t, reduction=r),
        *_CE3,
        dom=("real", "int3"),
    )
    case(
        f"bce_with_logits-{_r}",
        lambda F, x, t, r=_r: F.bce_with_logits(x, t, reduction=r),
        *_PAIRS,
        dom=("nz", "prob"),
    )
    case(f"mse_loss-{_r}", lambda F, x, t, r=_r: F.mse_loss(x, t, reduction=r), *_PAIRS)
    # knowledge distillation: student logits, the teacher's (a constant), labels
    for _temp, _alpha in ((4.0, 0.5), (1.0, 0.0), (0.5, 0.9)):
        case(
            f"distillation_loss-T{_temp}-a{_alpha}-{_r}",
            lambda F, s, t, y, r=_r, T=_temp, a=_alpha: F.distillation_loss(
                s, t, y, temperature=T, alpha=a, reduction=r
            ),
            *((x, x, (x[0],)) for x in ((4, 3), (1, 5), (6, 2))),
            dom=("real", "~real", "int2"),
        )
    case(
        f"distillation_loss-soft-only-{_r}",
        lambda F, s, t, r=_r: F.distillation_loss(s, t, temperature=3.0, alpha=1.0, reduction=r),
        ((4, 3), (4, 3)),
        ((1, 1), (1, 1)),
        dom=("real", "~real"),
    )
    for _delta in (1.0, 0.5):
        case(
            f"huber_loss-{_delta}-{_r}",
            lambda F, x, t, r=_r, d=_delta: F.huber_loss(x, t, delta=d, reduction=r),
            *_PAIRS,
            valid=lambda x, t, d=_delta: bool(np.all(np.abs(np.abs(x - t) - d) > 0.05)),
        )
case("bce_with_logits-const-target", lambda F, x, t: F.bce_with_logits(x, t), *_PAIRS,
     dom=("nz", "~prob"))  # fmt: skip
case("mse_loss-const-target", lambda F, x, t: F.mse_loss(x, t), *_PAIRS, dom=("real", "~real"))

# Dropout: a fresh generator with a fixed seed inside fn, so every call draws the same mask.
case(
    "dropout",
    lambda F, x: F.dropout(x, 0.3, generator=np.random.default_rng(7)),
    ((3, 4),),
    ((5,),),
    ((1, 1),),
)
case(
    "dropout-0.5",
    lambda F, x: F.dropout(x, p=0.5, generator=np.random.default_rng(11)) * x,
    ((2, 3, 2),),
)


# Images (N, C, H, W). Convolution: x, weight (C_out, C_in, kH, kW), bias (C_out,); odd and
# non-square sizes, size-1 axes (N, C, a 1-wide plane, a 1x1 kernel, a 1x1 output), and
# strides whose "wide rows" carry extra outputs (W + 2p not a multiple of the stride). "Same"
# convolutions (stride 1, OW = W: -pad1 with odd kernel widths, -dil2-pad2, conv2d-same-*)
# take ops/window.py's wrapped rows, whose reads past a row's edge must be zeroed.
_CONV = (
    ((2, 3, 5, 5), (4, 3, 3, 3), (4,)),
    ((1, 2, 7, 6), (3, 2, 2, 3), (3,)),
    ((2, 1, 4, 4), (1, 1, 1, 1), (1,)),
    ((1, 1, 3, 3), (2, 1, 3, 3), (2,)),
    ((2, 2, 1, 5), (2, 2, 1, 3), (2,)),
)
_CONV_OPTIONS = {
    "": {},
    "-pad1": {"padding": 1},
    "-stride2-pad1": {"stride": 2, "padding": 1},
    "-stride21-pad02": {"stride": (2, 1), "padding": (0, 2)},
    "-stride12-dil2-pad2": {"stride": (1, 2), "padding": 2, "dilation": 2},
    "-stride3-dil12-pad1": {"stride": 3, "padding": 1, "dilation": (1, 2)},
    "-dil2-pad2": {"padding": 2, "dilation": 2},
}
for _name, _kw in _CONV_OPTIONS.items():
    image_case(f"conv2d{_name}", lambda F, x, w, b, kw=_kw: F.conv2d(x, w, b, **kw), *_CONV)
image_case("conv2d-nobias", lambda F, x, w: F.conv2d(x, w, padding=(1, 0)), *[s[:2] for s in _CONV])
image_case(
    "conv2d-data-x",
    lambda F, x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
    *_CONV,
    dom=("~real", "real", "real"),
)
image_case("conv2d-const-w", lambda F, x, w: F.conv2d(x, w, padding=1), *[s[:2] for s in _CONV],
           dom=("real", "~real"))  # fmt: skip
image_case(
    "conv2d-same-narrow",  # planes 1 and 2 wide, padding wider than them: spare rows
    lambda F, x, w, b: F.conv2d(x, w, b, padding=(1, 2)),
    ((2, 2, 3, 1), (3, 2, 3, 5), (3,)),
    ((1, 1, 2, 2), (2, 1, 1, 5), (2,)),
)
image_case(
    "conv2d-same-uneven",  # padding and dilation differ per axis; OH != H
    lambda F, x, w, b: F.conv2d(x, w, b, padding=(0, 3), dilation=(2, 3)),
    ((2, 3, 6, 4), (2, 3, 2, 3), (2,)),
)
image_case(
    "conv2d-twice",  # the same weight twice, the second conv reading the first's layout
    lambda F, x, w: F.conv2d(F.relu(F.conv2d(x, w, padding=1)), w, padding=1),
    ((2, 2, 4, 5), (2, 2, 3, 3)),
    dom=("real", "real"),
)
# Pooling: "distinct" values keep max pool away from ties (a tie is a kink).
_POOL = (((2, 3, 6, 6),), ((1, 2, 5, 7),), ((2, 1, 4, 3),), ((1, 1, 2, 2),), ((3, 2, 3, 1),))
_POOL_OPTIONS = {
    "": ((2,), {}),
    "-k3-s1-p1": ((3,), {"stride": 1, "padding": 1}),
    "-k3-s2-p1": ((3,), {"stride": 2, "padding": 1}),
    "-k21-s12-p10": (((2, 1),), {"stride": (1, 2), "padding": (1, 0)}),
    "-k1": ((1,), {}),
}


def _fits(shape, kernel, options) -> bool:
    """Whether the (padded) planes of ``shape`` hold the pooling kernel."""
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    ph, pw = (lambda p: (p, p) if isinstance(p, int) else p)(options.get("padding", 0))
    return shape[2] + 2 * ph >= kh and shape[3] + 2 * pw >= kw


for _op in ("max_pool2d", "avg_pool2d"):
    for _name, (_args, _kw) in _POOL_OPTIONS.items():
        image_case(
            f"{_op}{_name}",
            lambda F, x, op=_op, a=_args, kw=_kw: getattr(F, op)(x, *a, **kw),
            *(s for s in _POOL if _fits(s[0], _args[0], _kw)),
            dom="distinct",
        )
image_case("adaptive_avg_pool2d", lambda F, x: F.adaptive_avg_pool2d(x, 1), *_POOL)
# x not "real": gradcheck projects the output on standard normal draws from the same seed,
# which would equal x itself, and sum(x_hat * x) is stationary in x (a zero gradient).
image_case(
    "batch_norm2d",
    lambda F, x, g, b: F.batch_norm2d(x, g, b),
    ((4, 3, 2, 2), (3,), (3,)),
    ((2, 2, 3, 1), (2,), (2,)),
    ((1, 1, 2, 3), (1,), (1,)),
    dom=("nz", "real", "real"),
)
image_case("batch_norm2d-no-affine", lambda F, x: F.batch_norm2d(x), ((3, 2, 2, 2),), dom="nz")
image_case(
    "embedding",
    lambda F, i, w: F.embedding(i, w),
    ((3, 4), (5, 3)),
    ((6,), (5, 2)),
    ((2, 3, 2), (5, 1)),
    ((1,), (5, 4)),
    dom=("int5", "real"),
)


# --- finite differences ------------------------------------------------------------------------


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.name)
def test_gradcheck(c: Case):
    checked = 0
    for seed in range(c.seeds):
        arrays = make_inputs(c, seed)
        inputs = [
            dp.tensor(a, requires_grad=needs_grad(d), dtype=a.dtype) for a, d in zip(arrays, c.doms)
        ]
        errors = gradcheck_errors(lambda *ts: c.fn(DP, *ts), inputs, seed=seed)
        for k, (err, d) in enumerate(zip(errors, c.doms)):
            if needs_grad(d):
                checked += 1
                shapes = [a.shape for a in arrays]
                assert err < TOL, f"{c.name}: input {k}, seed {seed}, shapes {shapes}: {err:.2e}"
            else:
                assert math.isnan(err)
                assert inputs[k].grad is None
    assert checked >= c.seeds


def test_table_covers_every_public_op():
    names = " ".join(c.name for c in CASES)
    for op in DP.__all__:
        assert op in names, f"no gradcheck case for {op}"


# --- PyTorch parity ----------------------------------------------------------------------------


class TorchOps:
    """deltaprop.ops's names and argument conventions, on torch."""

    def __init__(self, torch):
        self.torch = torch
        tf = torch.nn.functional
        for name in ("add", "sub", "mul", "div", "pow", "neg", "exp", "log", "sqrt", "abs"):
            setattr(self, name, getattr(torch, name))
        self.matmul, self.relu, self.sigmoid, self.tanh = (
            torch.matmul, torch.relu, torch.sigmoid, torch.tanh,
        )  # fmt: skip
        self.elu = lambda x, alpha=1.0: tf.elu(x, alpha=alpha)
        self.leaky_relu = lambda x, negative_slope=0.01: tf.leaky_relu(x, negative_slope)
        self.gelu = lambda x, approximate="none": tf.gelu(x, approximate=approximate)
        self.softmax = lambda x, axis=-1: torch.softmax(x, dim=axis)
        self.log_softmax = lambda x, axis=-1: torch.log_softmax(x, dim=axis)
        self.clip = lambda x, lo=None, hi=None: torch.clamp(x, lo, hi)
        self.flatten = lambda x, start_axis=1: torch.flatten(x, start_dim=start_axis)
        self.concatenate = lambda ts, axis=0: torch.cat(ts, dim=axis)
        self.stack = lambda ts, axis=0: torch.stack(ts, dim=axis)
        # deltaprop's weight is (in, out): x @ W + b; torch's linear takes (out, in).
        self.linear = lambda x, w, b=None: tf.linear(x, w.T, b)
        self.mse_loss = lambda p, t, reduction="mean": tf.mse_loss(p, t, reduction=reduction)
        self.nll_loss = lambda x, t, reduction="mean": tf.nll_loss(x, t, reduction=reduction)
        self.cross_entropy = lambda x, t, reduction="mean": tf.cross_entropy(
            x, t, reduction=reduction
        )
        self.bce_with_logits = lambda x, t, reduction="mean": tf.binary_cross_entropy_with_logits(
            x, t, reduction=reduction
        )
        self.huber_loss = lambda p, t, delta=1.0, reduction="mean": tf.huber_loss(
            p, t, delta=delta, reduction=reduction
        )
        self.conv2d = lambda x, w, b=None, stride=1, padding=0, dilation=1: tf.conv2d(
            x, w, b, stride, padding, dilation
        )
        self.max_pool2d = lambda x, k, stride=None, padding=0: tf.max_pool2d(x, k, stride, padding)
        self.avg_pool2d = lambda x, k, stride=None, padding=0: tf.avg_pool2d(x, k, stride, padding)
        self.adaptive_avg_pool2d = lambda x, size=1: tf.adaptive_avg_pool2d(x, size)
        self.batch_norm2d = lambda x, g=None, b=None: tf.batch_norm(x, None, None, g, b, True)
        self.embedding = lambda i, w: tf.embedding(i, w)

    def distillation_loss(self, s, t, y=None, temperature=4.0, alpha=0.5, reduction="mean"):
        # torch's own KL divergence (batchmean is the "mean" over rows) and cross-entropy
        tf, T = self.torch.nn.functional, temperature
        log_q, log_p = tf.log_softmax(s / T, dim=1), tf.log_softmax(t / T, dim=1)
        values = alpha * T * T * tf.kl_div(log_q, log_p, reduction="none", log_target=True).sum(1)
        if y is not None and alpha < 1:
            values = values + (1 - alpha) * tf.cross_entropy(s, y, reduction="none")
        return {"mean": values.mean, "sum": values.sum}.get(reduction, lambda: values)()

    def _t(self, v):
        if isinstance(v, np.ndarray):
            return self.torch.from_numpy(v)
        if isinstance(v, (int, float)):
            return self.torch.tensor(v, dtype=self.torch.float64)
        return v

    def maximum(self, a, b):
        return self.torch.maximum(self._t(a), self._t(b))

    def minimum(self, a, b):
        return self.torch.minimum(self._t(a), self._t(b))

    def where(self, cond, a, b):
        return self.torch.where(self._t(cond), a, b)

    def getitem(self, x, index):
        if isinstance(index, tuple):
            return x[tuple(self._t(i) if isinstance(i, np.ndarray) else i for i in index)]
        return x[self._t(index)]

    def reshape(self, x, *shape):
        return x.reshape(shape[0] if len(shape) == 1 else shape)

    def transpose(self, x, *axes):
        if len(axes) == 1:
            axes = tuple(axes[0])
        return x.permute(axes or tuple(reversed(range(x.ndim))))

    def _reduce(self, fn, x, axis, keepdims):
        if axis is None:
            return fn(x, dim=tuple(range(x.ndim)), keepdim=keepdims) if x.ndim else fn(x)
        return fn(x, dim=axis, keepdim=keepdims)

    def sum(self, x, axis=None, keepdims=False):
        return self._reduce(self.torch.sum, x, axis, keepdims)

    def mean(self, x, axis=None, keepdims=False):
        return self._reduce(self.torch.mean, x, axis, keepdims)

    def max(self, x, axis=None, keepdims=False):
        return self._reduce(self.torch.amax, x, axis, keepdims)

    def min(self, x, axis=None, keepdims=False):
        return self._reduce(self.torch.amin, x, axis, keepdims)

    def dropout(self, x, p=0.5, training=True, generator=None):
        # The same mask as deltaprop draws from the same generator: what is compared is the
        # inverted-dropout arithmetic and its gradient.
        keep = generator.random(tuple(x.shape), dtype=np.float64) >= p
        return x * self.torch.from_numpy(keep / (1.0 - p))


@pytest.fixture(scope="module")
def T():
    return TorchOps(pytest.importorskip("torch"))


def run_both(fn, arrays, grads, T):
    """Run ``fn`` in deltaprop and torch on the same float64 arrays, backpropagate the same
    random upstream gradient, and return (dp value, torch value, [(dp grad, torch grad)])."""
    torch = T.torch
    d_in = [dp.tensor(a, requires_grad=g, dtype=a.dtype) for a, g in zip(arrays, grads)]
    t_in = [
        torch.tensor(a, requires_grad=g) if a.dtype.kind == "f" else torch.from_numpy(a)
        for a, g in zip(arrays, grads)
    ]
    d_out, t_out = fn(DP, *d_in), fn(T, *t_in)
    v = np.random.default_rng(0).standard_normal(d_out.shape)
    d_out.backward(v)
    t_out.backward(torch.from_numpy(v))
    pairs = [(d.grad, t.grad) for d, t, g in zip(d_in, t_in, grads) if g]
    return d_out, t_out, pairs


@pytest.mark.parametrize("c", [c for c in CASES if c.parity], ids=lambda c: c.name)
def test_torch_parity(c: Case, T):
    for seed in range(2 * len(c.shape_sets)):  # every shape set, twice
        arrays = make_inputs(c, seed)
        grads = [needs_grad(d) for d in c.doms]
        d_out, t_out, pairs = run_both(c.fn, arrays, grads, T)
        where = f"{c.name}, seed {seed}, shapes {[a.shape for a in arrays]}"
        assert d_out.shape == tuple(t_out.shape), where
        assert d_out.dtype == np.float64, where
        np.testing.assert_allclose(
            d_out.numpy(), t_out.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=where
        )
        for k, (dg, tg) in enumerate(pairs):
            assert dg is not None and tg is not None, f"{where}: input {k} got no gradient"
            assert dg.shape == tuple(tg.shape), where
            np.testing.assert_allclose(
                dg.numpy(), tg.numpy(), rtol=1e-10, atol=1e-12, err_msg=f"{where}: grad {k}"
            )
