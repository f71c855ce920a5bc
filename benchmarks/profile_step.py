"""Where deltaprop's time goes in one SGD step at batch size 1 (64-32-10 MLP, float32).

    python benchmarks/profile_step.py                 # component table (µs per step)
    python benchmarks/profile_step.py --cprofile 25   # plus cProfile's top functions

Three views, each in µs per step:

1. phases of the real loop (forward, backward, update, zero_grad), timed with perf_counter
   around each phase over a whole epoch, next to the hand-written NumPy loop's total;
2. components in isolation, timed with timeit on the step's own shapes: for every op, the NumPy
   arithmetic alone (what a hand-written loop must also pay) and the same op through deltaprop
   (wrapper checks + Function.apply + forward); for backward, the engine's walk minus the ops'
   own backward arithmetic; the optimizer's per-parameter update;
3. optionally cProfile's top functions by own time, rescaled so that their sum matches the
   unprofiled epoch (cProfile inflates cheap, frequent calls: read it for ranking only).

The loop under test uses the engine directly (ops.linear, ops.relu, ops.cross_entropy on
Parameters) and, when deltaprop.nn and deltaprop.optim exist, also nn.Sequential + optim.SGD.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
import timeit

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlp  # noqa: E402  (the benchmark's data, weights and hand-written loop)

import deltaprop as dp  # noqa: E402
from deltaprop.autograd.engine import backward as engine_backward  # noqa: E402
from deltaprop.nn.module import Parameter  # noqa: E402
from deltaprop.ops import cross_entropy, linear, relu  # noqa: E402
from deltaprop.ops.linalg import Linear  # noqa: E402
from deltaprop.ops.loss import SoftmaxCrossEntropy  # noqa: E402

SIZES = (64, 32, 10)
LR = np.float32(mlp.LR)


def us(fn, number=20000, repeat=5) -> float:
    """Best-of-``repeat`` µs per call."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def phase_times(n: int) -> dict[str, float]:
    """The engine-direct loop of mlp.setup_dp_ops, with a clock around each phase."""
    X, y = mlp.make_data(SIZES[0], n)
    params = [(Parameter(w.copy()), Parameter(b.copy())) for w, b in mlp.init_weights(SIZES)]
    flat = [p for pair in params for p in pair]
    (w1, b1), (w2, b2) = params
    clock = time.perf_counter
    best: dict[str, float] = {}
    for _ in range(4):
        perm = np.random.default_rng(0).permutation(n)
        Xs, ys = X[perm], y[perm]
        acc = dict.fromkeys(("zero_grad", "forward", "backward", "update", "loop"), 0.0)
        t_epoch = clock()
        for i in range(n):
            t0 = clock()
            for p in flat:
                p.grad = None
            t1 = clock()
            loss = cross_entropy(
                linear(relu(linear(dp.Tensor(Xs[i : i + 1]), w1, b1)), w2, b2), ys[i : i + 1]
            )
            t2 = clock()
            loss.backward()
            t3 = clock()
            for p in flat:
                g = p.grad.data
                g *= LR
                p.data -= g
            t4 = clock()
            acc["zero_grad"] += t1 - t0
            acc["forward"] += t2 - t1
            acc["backward"] += t3 - t2
            acc["update"] += t4 - t3
        acc["loop"] = (
            clock() - t_epoch - sum(acc[k] for k in ("zero_grad", "forward", "backward", "update"))
        )
        for k, v in acc.items():
            best[k] = min(best.get(k, float("inf")), v / n * 1e6)
    return best


def phase_times_nn(n: int) -> dict[str, float] | None:
    """The same phases for the nn.Sequential + nn.CrossEntropyLoss + optim.SGD loop."""
    try:
        _, nn, optim = mlp._dp_modules()
    except mlp.Unavailable:
        return None
    X, y = mlp.make_data(SIZES[0], n)
    model = mlp._dp_model(mlp.Case("b1", SIZES, 1, n), nn)
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=mlp.LR)
    clock = time.perf_counter
    best: dict[str, float] = {}
    for _ in range(4):
        perm = np.random.default_rng(0).permutation(n)
        Xs, ys = X[perm], y[perm]
        acc = dict.fromkeys(("zero_grad", "forward", "backward", "update", "loop"), 0.0)
        t_epoch = clock()
        for i in range(n):
            t0 = clock()
            opt.zero_grad()
            t1 = clock()
            loss = loss_fn(model(dp.Tensor(Xs[i : i + 1])), ys[i : i + 1])
            t2 = clock()
            loss.backward()
            t3 = clock()
            opt.step()
            t4 = clock()
            acc["zero_grad"] += t1 - t0
            acc["forward"] += t2 - t1
            acc["backward"] += t3 - t2
            acc["update"] += t4 - t3
        acc["loop"] = (
            clock() - t_epoch - sum(acc[k] for k in ("zero_grad", "forward", "backward", "update"))
        )
        for k, v in acc.items():
            best[k] = min(best.get(k, float("inf")), v / n * 1e6)
    return best


def phase_times_hand(n: int) -> dict[str, float]:
    """The hand-written loop (mlp.setup_hand without bookkeeping) cut into the same phases:
    forward = up to the softmax probabilities, backward = the gradients, update = SGD."""
    X, y = mlp.make_data(SIZES[0], n)
    (W1, B1), (W2, B2) = [(w.copy(), b.copy()) for w, b in mlp.init_weights(SIZES)]
    add_reduce, max_reduce = np.add.reduce, np.maximum.reduce
    clock = time.perf_counter
    best: dict[str, float] = {}
    for _ in range(4):
        perm = np.random.default_rng(0).permutation(n)
        Xs, ys = X[perm], y[perm]
        acc = dict.fromkeys(("zero_grad", "forward", "backward", "update", "loop"), 0.0)
        t_epoch = clock()
        for i in range(n):
            t1 = clock()
            x = Xs[i : i + 1]
            t = ys[i : i + 1]
            z = x.dot(W1)
            z += B1
            a = np.maximum(z, 0)
            z = a.dot(W2)
            z += B2
            z -= max_reduce(z, axis=1, keepdims=True)
            p = np.exp(z)
            p /= add_reduce(p, axis=1, keepdims=True)
            t2 = clock()
            p[np.arange(1), t] -= 1
            p *= np.float32(1.0)
            gW2 = a.T.dot(p)
            gb2 = add_reduce(p, axis=0)
            d = p.dot(W2.T)
            d *= a > 0
            gW1 = x.T.dot(d)
            gb1 = add_reduce(d, axis=0)
            t3 = clock()
            for w, g in ((W1, gW1), (B1, gb1), (W2, gW2), (B2, gb2)):
                g *= LR
                w -= g
            t4 = clock()
            acc["forward"] += t2 - t1
            acc["backward"] += t3 - t2
            acc["update"] += t4 - t3
        acc["loop"] = clock() - t_epoch - sum(acc[k] for k in ("forward", "backward", "update"))
        for k, v in acc.items():
            best[k] = min(best.get(k, float("inf")), v / n * 1e6)
    return best


def epoch_us(setup, n: int) -> float:
    X, y = mlp.make_data(SIZES[0], n)
    case = mlp.Case("b1", SIZES, 1, n)
    epoch = setup(case, X, y)
    epoch()
    return min(timeit.repeat(epoch, number=1, repeat=5)) / n * 1e6


def components() -> list[tuple[str, float, str]]:
    """(component, µs per step, how it was measured)."""
    rng = np.random.default_rng(0)
    (W1, B1), (W2, B2) = mlp.init_weights(SIZES)
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


def cprofile_top(n_steps: int, top: int) -> None:
    X, y = mlp.make_data(SIZES[0], n_steps)
    case = mlp.Case("b1", SIZES, 1, n_steps)
    epoch = mlp.setup_dp_ops(case, X, y)
    epoch()
    t0 = time.perf_counter()
    epoch()
    plain = time.perf_counter() - t0
    pr = cProfile.Profile()
    pr.enable()
    epoch()
    pr.disable()
    st = pstats.Stats(pr)
    total = sum(v[2] for v in st.stats.values())
    scale = plain / total
    print(f"\n## cProfile, own time (tottime) rescaled x{scale:.2f} to the unprofiled epoch\n")
    print("| function | calls/step | µs/step (rescaled) | share |")
    print("|---|--:|--:|--:|")
    items = sorted(st.stats.items(), key=lambda kv: -kv[1][2])[:top]
    for (file, line, func), (_, nc, tt, _, _) in items:
        where = f"{os.path.relpath(file, os.getcwd()) if file.startswith('/') else file}:{line}"
        name = f"{func} ({where})" if line else func
        print(
            f"| {name} | {nc / n_steps:.0f} | {tt * scale / n_steps * 1e6:.2f} | {tt / total:.1%} |"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=16384)
    ap.add_argument(
        "--cprofile", type=int, default=0, metavar="TOP", help="also print cProfile's TOP functions"
    )
    args = ap.parse_args()

    n = args.steps
    print("# deltaprop per-step cost at batch size 1, MLP 64-32-10, float32\n")
    print("\n".join(mlp.machine_lines()))
    hand = epoch_us(lambda c, X, y: mlp.setup_hand(c, X, y, False), n)
    ops = epoch_us(mlp.setup_dp_ops, n)
    print(
        f"\nWhole epoch, µs per step: hand-written NumPy {hand:.1f}, deltaprop ops loop "
        f"{ops:.1f} ({ops / hand:.2f}x)"
    )
    try:
        loop = epoch_us(mlp.setup_dp_loop, n)
        print(f"deltaprop nn+optim loop {loop:.1f} ({loop / hand:.2f}x)")
    except mlp.Unavailable as e:
        print(f"(nn/optim loop not measured: {e})")

    ph = phase_times(n)
    ph_nn = phase_times_nn(n)
    ph_hand = phase_times_hand(n)
    print("\n## Phases of one step (perf_counter around each phase; best of 4 epochs)\n")
    print(
        "Forward includes the loss (for the hand loop: up to softmax probabilities, no loss "
        "value); loop = slicing, range and the clock calls themselves.\n"
    )
    print("| phase | hand-written µs/step | ops loop µs/step | nn + optim.SGD loop µs/step |")
    print("|---|--:|--:|--:|")
    for k in ("zero_grad", "forward", "backward", "update", "loop"):
        other = f"{ph_nn[k]:.1f}" if ph_nn else "n/a"
        print(f"| {k} | {ph_hand[k]:.1f} | {ph[k]:.1f} | {other} |")
    other = f"{sum(ph_nn.values()):.1f}" if ph_nn else "n/a"
    print(f"| total | {sum(ph_hand.values()):.1f} | {sum(ph.values()):.1f} | {other} |")

    print("\n## Components in isolation (timeit, best of 5)\n")
    print("| component | µs/step | measured as |")
    print("|---|--:|---|")
    total = 0.0
    for name, v, how in components():
        print(f"| {name} | {v:.2f} | {how} |")
        if "(reference)" not in name and "(for reference)" not in name:
            total += v
    print(f"| sum of the components | {total:.1f} | |")
    if args.cprofile:
        cprofile_top(n, args.cprofile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
