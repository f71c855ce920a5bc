"""The hand-written NumPy loops: the practical limit for a NumPy engine, and the reference of
``--check`` (every other method must end the epoch with these weights).

Each step's code is written out in full, once per loop, on purpose: a helper shared by the two
loops would add a Python call per step to the reference that deltaprop is measured against
(~0.1 µs of the ~17 µs a step takes at batch size 1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from workload import (
    ADAM_BETAS,
    ADAM_EPS,
    ADAM_LR,
    BN_EPS,
    BN_MOMENTUM,
    DROPOUT,
    LR,
    SEED,
    Case,
    init_bn,
    init_weights,
)


def make_adam(
    arrays: Sequence[np.ndarray],
    lr: float = ADAM_LR,
    betas: tuple[float, float] = ADAM_BETAS,
    eps: float = ADAM_EPS,
) -> tuple[Callable[[], None], Callable[[int, np.ndarray, np.ndarray], None]]:
    """Adam in place on float32 arrays, torch.optim.Adam's rule in deltaprop's order of
    operations, with one preallocated scratch array per parameter. Returns (begin, update):
    ``begin()`` once per step, then ``update(i, w, g)`` for parameter i (any order)."""
    b1, b2 = betas
    slots = [(np.zeros_like(a), np.zeros_like(a), np.empty_like(a)) for a in arrays]
    coef = [0, 0.0, 0.0]  # step t, lr / (1 - b1^t), sqrt(1 - b2^t)

    def begin():
        t = coef[0] = coef[0] + 1
        coef[1] = lr / (1.0 - b1**t)
        coef[2] = (1.0 - b2**t) ** 0.5

    def update(i, w, g):
        m, v, tmp = slots[i]
        np.subtract(g, m, out=tmp)
        tmp *= 1.0 - b1
        m += tmp  # m + (1 - b1) (g - m)
        v *= b2
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - b2
        v += tmp
        np.sqrt(v, out=tmp)
        tmp /= coef[2]
        tmp += eps
        np.divide(m, tmp, out=tmp)
        tmp *= coef[1]
        w -= tmp

    return begin, update


def _start(case: Case):
    """The state both loops start from: (W, b) pairs (copies of the shared initial weights),
    the W and b lists, and the generator of the permutations (and the dropout masks)."""
    params = [(w.copy(), b.copy()) for w, b in init_weights(case.sizes)]
    return params, [w for w, _ in params], [b for _, b in params], np.random.default_rng(SEED + 2)


def setup_hand(case: Case, X: np.ndarray, y: np.ndarray, bookkeeping: bool) -> Callable:
    """The hand-written NumPy loop: the practical limit for a NumPy engine.

    Reductions call the ufuncs (np.add.reduce, np.maximum.reduce) rather than the ndarray
    methods (.sum, .max), whose Python wrappers cost ~0.5 µs a call: same math, and the anchor
    is as fast as plain NumPy gets at batch size 1."""
    if case.bn_dropout:
        return setup_hand_bn(case, X, y, bookkeeping)
    add_reduce, max_reduce = np.add.reduce, np.maximum.reduce
    params, Ws, bs, rng = _start(case)
    n_layers = len(Ws)
    B = case.batch
    adam = case.optimizer == "adam"
    if adam:
        adam_begin, adam_update = make_adam([a for pair in params for a in pair])

    def epoch():
        n = len(X)
        perm = rng.permutation(n)
        Xs, ys = X[perm], y[perm]
        total_loss = 0.0
        correct = 0
        for i in range(0, n, B):
            a = Xs[i : i + B]
            t = ys[i : i + B]
            m = a.shape[0]
            acts = [a]
            for k in range(n_layers - 1):
                z = a.dot(Ws[k])  # .dot: less dispatch than @ for small 2-D operands
                z += bs[k]
                a = np.maximum(z, 0)
                acts.append(a)
            z = a.dot(Ws[-1])
            z += bs[-1]
            # stable softmax cross-entropy: z <- z - max, p = e^z / sum
            z -= max_reduce(z, axis=1, keepdims=True)
            p = np.exp(z)
            s = add_reduce(p, axis=1, keepdims=True)
            p /= s
            rows = np.arange(m)
            if bookkeeping:
                total_loss += float(add_reduce(np.log(s[:, 0])) - add_reduce(z[rows, t]))
                correct += int(np.count_nonzero(z.argmax(axis=1) == t))
            p[rows, t] -= 1
            p *= np.float32(1.0 / m)
            d = p  # dL/dlogits
            if adam:
                adam_begin()
            for k in range(n_layers - 1, -1, -1):
                a_in = acts[k]
                gW = a_in.T.dot(d)
                gb = add_reduce(d, axis=0)
                if k:
                    d = d.dot(Ws[k].T)
                    d *= a_in > 0  # relu'(z) = (z > 0) = (a > 0)
                if adam:
                    adam_update(2 * k, Ws[k], gW)
                    adam_update(2 * k + 1, bs[k], gb)
                else:
                    gW *= np.float32(LR)
                    Ws[k] -= gW
                    gb *= np.float32(LR)
                    bs[k] -= gb
        return (total_loss / n, correct / n) if bookkeeping else None

    epoch.weights = lambda: params
    return epoch


def setup_hand_bn(case: Case, X: np.ndarray, y: np.ndarray, bookkeeping: bool) -> Callable:
    """The hand loop with Linear -> BatchNorm1d -> ReLU -> Dropout per hidden layer, SGD.

    Batch norm (training mode) per channel over the batch, m rows: x_hat = (z - mean) * inv_std,
    inv_std = 1 / sqrt(var + eps) (biased var), out = gamma * x_hat + beta; the backward is
    dz = gamma * inv_std * (g - sum(g) / m - x_hat * sum(g * x_hat) / m), dgamma = sum(g * x_hat),
    dbeta = sum(g). Running statistics are updated as torch does (unbiased running variance).
    Dropout: the mask keep / (1 - p) drawn from the generator of the permutation."""
    add_reduce, max_reduce = np.add.reduce, np.maximum.reduce
    params, Ws, bs, rng = _start(case)
    bn = init_bn(case)
    n_layers = len(Ws)
    B = case.batch
    lr = np.float32(LR)
    keep_scale = np.float32(1.0 / (1.0 - DROPOUT))

    def epoch():
        n = len(X)
        perm = rng.permutation(n)
        Xs, ys = X[perm], y[perm]
        total_loss = 0.0
        correct = 0
        for i in range(0, n, B):
            a = Xs[i : i + B]
            t = ys[i : i + B]
            m = a.shape[0]
            acts = [a]
            memo = []  # per hidden layer: x_hat, inv_std, dropout mask
            for k in range(n_layers - 1):
                gamma, beta, run_mean, run_var = bn[k]
                z = a.dot(Ws[k])
                z += bs[k]
                mean = z.mean(axis=0, keepdims=True)
                z -= mean  # centred, in place
                var = (z * z).mean(axis=0, keepdims=True)
                inv_std = 1.0 / np.sqrt(var + BN_EPS)
                z *= inv_std  # x_hat
                run_mean *= 1.0 - BN_MOMENTUM
                run_mean += BN_MOMENTUM * mean.reshape(-1)
                run_var *= 1.0 - BN_MOMENTUM
                run_var += (BN_MOMENTUM * m / (m - 1)) * var.reshape(-1)
                a = z * gamma
                a += beta
                np.maximum(a, 0, out=a)
                mask = (rng.random(a.shape, dtype=np.float32) >= DROPOUT) * keep_scale
                a *= mask
                memo.append((z, inv_std, mask))
                acts.append(a)
            z = a.dot(Ws[-1])
            z += bs[-1]
            z -= max_reduce(z, axis=1, keepdims=True)
            p = np.exp(z)
            s = add_reduce(p, axis=1, keepdims=True)
            p /= s
            rows = np.arange(m)
            if bookkeeping:
                total_loss += float(add_reduce(np.log(s[:, 0])) - add_reduce(z[rows, t]))
                correct += int(np.count_nonzero(z.argmax(axis=1) == t))
            p[rows, t] -= 1
            p *= np.float32(1.0 / m)
            d = p  # dL/dlogits
            for k in range(n_layers - 1, -1, -1):
                a_in = acts[k]
                gW = a_in.T.dot(d)
                gb = add_reduce(d, axis=0)
                if k:
                    d = d.dot(Ws[k].T)
                    x_hat, inv_std, mask = memo[k - 1]
                    gamma, beta = bn[k - 1][:2]
                    d *= mask  # dropout
                    d *= a_in > 0  # relu: a_in > 0 where the relu passed and the unit was kept
                    sum_g = add_reduce(d, axis=0)
                    sum_gx = add_reduce(d * x_hat, axis=0)
                    d -= sum_g / m
                    d -= x_hat * (sum_gx / m)
                    d *= inv_std * gamma
                    sum_gx *= lr
                    gamma -= sum_gx
                    sum_g *= lr
                    beta -= sum_g
                gW *= lr
                Ws[k] -= gW
                gb *= lr
                bs[k] -= gb
        return (total_loss / n, correct / n) if bookkeeping else None

    epoch.weights = lambda: params + [tuple(s[:2]) for s in bn] + [tuple(s[2:]) for s in bn]
    return epoch
