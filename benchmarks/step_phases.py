"""Phases of one step at batch size 1 (zero_grad, forward, backward, update, the loop itself),
in µs per step, timed with perf_counter around each phase over whole epochs: deltaprop's ops
loop, its nn + optim.SGD loop, and the hand-written NumPy loop.

Each loop is written out with its clock calls inline: that code is what is measured.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from dp_methods import dp_model
from workload import LR, Case, init_weights, make_data

import deltaprop as dp
from deltaprop import nn, optim
from deltaprop.nn import Parameter
from deltaprop.ops import cross_entropy, linear, relu

SIZES = (64, 32, 10)
PHASES = ("zero_grad", "forward", "backward", "update", "loop")


def _best_phases(n: int, run: Callable, rounds: int = 4) -> dict[str, float]:
    """Best of ``rounds`` epochs, µs per step for each phase. ``run(Xs, ys, acc)`` trains one
    epoch on the shuffled Xs (n, 64), ys (n,), one row a step, and adds each phase's seconds
    to ``acc``; "loop" is what the epoch took beyond the phases (slicing, range, the clocks)."""
    X, y = make_data(SIZES[0], n)
    clock = time.perf_counter
    best: dict[str, float] = {}
    for _ in range(rounds):
        perm = np.random.default_rng(0).permutation(n)
        Xs, ys = X[perm], y[perm]
        acc = dict.fromkeys(PHASES, 0.0)
        t_epoch = clock()
        run(Xs, ys, acc)
        acc["loop"] = clock() - t_epoch - sum(acc[k] for k in PHASES if k != "loop")
        for k, v in acc.items():
            best[k] = min(best.get(k, float("inf")), v / n * 1e6)
    return best


def phase_times(n: int) -> dict[str, float]:
    """The engine-direct loop of dp_methods.setup_dp_ops, with a clock around each phase."""
    params = [(Parameter(w.copy()), Parameter(b.copy())) for w, b in init_weights(SIZES)]
    flat = [p for pair in params for p in pair]
    (w1, b1), (w2, b2) = params
    lr = np.float32(LR)

    def run(Xs, ys, acc):
        clock = time.perf_counter  # a local: cheaper to look up than the module's name
        for i in range(len(Xs)):
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
                g *= lr
                p.data -= g
            t4 = clock()
            acc["zero_grad"] += t1 - t0
            acc["forward"] += t2 - t1
            acc["backward"] += t3 - t2
            acc["update"] += t4 - t3

    return _best_phases(n, run)


def phase_times_nn(n: int) -> dict[str, float]:
    """The same phases for the nn.Sequential + nn.CrossEntropyLoss + optim.SGD loop."""
    model = dp_model(Case("b1", SIZES, 1, n))
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=LR)

    def run(Xs, ys, acc):
        clock = time.perf_counter  # a local: cheaper to look up than the module's name
        for i in range(len(Xs)):
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

    return _best_phases(n, run)


def phase_times_hand(n: int) -> dict[str, float]:
    """The hand-written loop (hand_loops.setup_hand without bookkeeping) cut into the same
    phases: forward = up to the softmax probabilities, backward = the gradients, update = SGD
    (zero_grad stays 0: the hand loop has nothing to reset)."""
    (W1, B1), (W2, B2) = [(w.copy(), b.copy()) for w, b in init_weights(SIZES)]
    add_reduce, max_reduce = np.add.reduce, np.maximum.reduce
    lr = np.float32(LR)

    def run(Xs, ys, acc):
        clock = time.perf_counter  # a local: cheaper to look up than the module's name
        for i in range(len(Xs)):
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
                g *= lr
                w -= g
            t4 = clock()
            acc["forward"] += t2 - t1
            acc["backward"] += t3 - t2
            acc["update"] += t4 - t3

    return _best_phases(n, run)
