"""Components of one step at batch size 1 in isolation, in µs, timed with timeit on the step's
own shapes (64-32-10 MLP, float32): for every op, the NumPy arithmetic alone (what a
hand-written loop must also pay) and the same op through deltaprop (wrapper checks +
Function.apply + forward); for backward, the engine's walk minus the ops' own backward
arithmetic; the optimizer's per-parameter update.
"""

from __future__ import annotations

import timeit
from collections.abc import Callable

import numpy as np
import workload
from step_phases import SIZES
from workload import init_weights

import deltaprop as dp
from deltaprop.autograd.engine import backward as engine_backward
from deltaprop.nn import Parameter
from deltaprop.ops import cross_entropy, linear, relu
from deltaprop.ops.linalg import Linear
from deltaprop.ops.loss import SoftmaxCrossEntropy

LR = np.float32(workload.LR)


def us(fn: Callable, number: int = 20000, repeat: int = 5) -> float:
    """Best-of-``repeat`` µs per call."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def components() -> list[tuple[str, float, str]]:
    """(component, µs per step, how it was measured)."""
    rng = np.random.default_rng(0)
    (W1, B1), (W2, B2) = init_weights(SIZES)
    w1, b1, w2, b2 = (Parameter(a.copy()) for a in (W1, B1, W2, B2))
    xb = rng.standard_normal((1, SIZES[0]), dtype=np.float32)
    yb = np.array([3], dtype=np.int64)
    x = dp.Tensor(xb)
    rows = []

    # ---- forward -----------------------------------------------------------------------------
    def np_lin1():
        z = xb.dot(W1)
        z += B1
        return z

    z1 = np_lin1()
    h1 = np.maximum(z1, 0)

    def np_relu():
        m = z1 > 0
        return z1 * m

    def np_lin2():
        z = h1.dot(W2)
        z += B2
        return z

    z2 = np_lin2()

    def np_ce():  # what SoftmaxCrossEntropy.forward computes (sparse, mean), fastest NumPy
        z = z2 - np.maximum.reduce(z2, axis=1, keepdims=True)
        e = np.exp(z)
        s = np.add.reduce(e, axis=1, keepdims=True)
        lp = np.log(s)
        v = lp[:, 0] - z[np.arange(1), yb]
        p = e / s
        return np.add.reduce(v) / 1, p

    t_x = dp.Tensor(xb)
    t_h1 = relu(linear(t_x, w1, b1))
    t_z2 = linear(t_h1, w2, b2)
    t_yb = dp.Tensor(yb)

    rows.append(
        (
            "fwd: dp.Tensor(xb) (wrap the batch)",
            us(lambda: dp.Tensor(xb)),
            "Tensor.__init__ + _as_array",
        )
    )
    a_l1 = us(np_lin1)
    rows.append(("fwd: linear 1 NumPy math (x@W+b)", a_l1, "hand-loop equivalent"))
    rows.append(
        (
            "fwd: linear 1 Function.apply overhead",
            us(lambda: Linear.apply(x, w1, b1)) - a_l1,
            "Linear.apply - NumPy math",
        )
    )
    rows.append(
        (
            "fwd: linear() wrapper checks",
            us(lambda: linear(x, w1, b1)) - us(lambda: Linear.apply(x, w1, b1)),
            "linear() - Linear.apply",
        )
    )
    a_r = us(np_relu)
    rows.append(("fwd: relu NumPy math (mask, x*mask)", a_r, "hand loop uses np.maximum"))
    t_z1 = linear(t_x, w1, b1)  # requires grad, as in the real graph
    rows.append(
        (
            "fwd: relu Function.apply + wrapper overhead",
            us(lambda: relu(t_z1)) - a_r,
            "relu() - NumPy math",
        )
    )
    a_l2 = us(np_lin2)
    rows.append(("fwd: linear 2 NumPy math", a_l2, "hand-loop equivalent"))
    rows.append(
        (
            "fwd: linear 2 apply + wrapper overhead",
            us(lambda: linear(t_h1, w2, b2)) - a_l2,
            "linear() - NumPy math",
        )
    )
    a_ce = us(np_ce)
    rows.append(("fwd: cross-entropy NumPy math", a_ce, "max, exp, sum, log, pick, mean, p"))
    ce_apply = us(lambda: SoftmaxCrossEntropy.apply(t_z2, t_yb, reduction="mean", sparse=True))
    rows.append(
        (
            "fwd: cross-entropy Function.apply overhead",
            ce_apply - a_ce,
            "SoftmaxCrossEntropy.apply - NumPy math",
        )
    )
    rows.append(
        (
            "fwd: cross_entropy() checks (as_tensor(y), label min/max)",
            us(lambda: cross_entropy(t_z2, yb)) - ce_apply,
            "cross_entropy() - .apply",
        )
    )

    # ---- backward ----------------------------------------------------------------------------
    loss = cross_entropy(linear(relu(linear(x, w1, b1)), w2, b2), yb)
    fns = []
    node = loss.creator
    stack = [node]
    while stack:  # collect the 4 nodes
        f = stack.pop()
        fns.append(f)
        stack.extend(p for p in f.parents if p is not None and not isinstance(p, dp.Tensor))
    ce_fn, lin2_fn, relu_fn, lin1_fn = fns
    g0 = np.ones((), np.float32)
    g_logits = ce_fn.backward(g0)[0]
    g_h1 = lin2_fn.backward(g_logits)[0]
    g_z1 = relu_fn.backward(g_h1)
    op_bwd = {
        "SoftmaxCrossEntropy.backward": us(lambda: ce_fn.backward(g0)),
        "Linear.backward (layer 2, with gx)": us(lambda: lin2_fn.backward(g_logits)),
        "ReLU.backward": us(lambda: relu_fn.backward(g_h1)),
        "Linear.backward (layer 1, no gx)": us(lambda: lin1_fn.backward(g_z1)),
    }

    def hand_bwd():  # the same arithmetic in the hand loop
        d = np_ce()[1]
        d[0, yb[0]] -= 1
        d *= np.float32(1.0)
        gW2 = h1.T.dot(d)
        gb2 = np.add.reduce(d, axis=0)
        d = d.dot(W2.T)
        d *= h1 > 0
        gW1 = xb.T.dot(d)
        gb1 = np.add.reduce(d, axis=0)
        return gW1, gb1, gW2, gb2

    for name, v in op_bwd.items():
        rows.append((f"bwd: {name}", v, "fn.backward(gy) called directly"))

    def run_backward():
        for p in (w1, b1, w2, b2):
            p.grad = None
        engine_backward(loss, None, retain_graph=True)

    total_bwd = us(run_backward)
    rows.append(
        (
            "bwd: engine walk overhead (heap, table, unbroadcast checks, leaf accumulate)",
            total_bwd - sum(op_bwd.values()) - us(lambda: [None for _ in range(4)]),
            "engine.backward(retain_graph) - sum of op backwards",
        )
    )
    rows.append(
        (
            "bwd: (for reference) hand-loop backward arithmetic incl. softmax",
            us(hand_bwd),
            "not part of the sum",
        )
    )

    # ---- optimizer ---------------------------------------------------------------------------
    run_backward()
    flat = (w1, b1, w2, b2)

    def update():
        for p in flat:
            g = p.grad.data
            g *= LR
            p.data -= g

    gs = [p.grad.data for p in flat]
    ds = [p.data for p in flat]

    def hand_update():
        for g, d in zip(gs, ds):
            g *= LR
            d -= g

    rows.append(
        ("step: in-place SGD update, 4 params", us(update), "p.grad.data *= lr; p.data -= g")
    )
    rows.append(("step: (reference) same on raw arrays", us(hand_update), "not part of the sum"))
    return rows
