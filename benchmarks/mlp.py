"""One training epoch of an MLP: deltaprop against a hand-written NumPy loop, PyTorch and sklearn.

    python benchmarks/mlp.py                      # every case, every method (a few minutes)
    python benchmarks/mlp.py --quick              # smaller data, 2 runs: a smoke test
    python benchmarks/mlp.py --repeats 7 --cases 784-256-128-10/b128 64-32-10/b1
    python benchmarks/mlp.py --methods fit hand_bk hand --memory none

Every method trains the same float32 network (same initial weights, lr=0.01 SGD, softmax
cross-entropy) on the same seeded synthetic data with the same batching scheme: one permuted copy
of X and y per epoch, then contiguous slices. The time of an epoch is the minimum over
``--repeats`` (default 7) runs after one warm-up epoch each, all in this one process, the
methods taken in turn in every round so that outside load hits them alike. Before anything,
one 24 MB allocation settles glibc's mmap threshold (see ``settle_allocator``). ``--check``
verifies that every deltaprop variant and PyTorch end an epoch with the hand loop's weights.

Two cases change the recipe (784-256-128-10, batch 128, like the first case):
  .../Adam                the same ReLU MLP trained with Adam (lr 1e-3, betas (0.9, 0.999),
                          eps 1e-8: torch.optim.Adam's defaults) instead of SGD; the hand loops
                          update in place in deltaprop's order of operations, sklearn uses
                          solver="adam"
  .../dropout+batchnorm   Linear -> BatchNorm1d -> ReLU -> Dropout(0.2), twice, then Linear,
                          in training mode (batch statistics, running statistics updated), SGD
                          lr 0.01; the hand loops write batch norm's forward and backward out;
                          sklearn has neither layer (n/a)
Dropout masks: every NumPy method (deltaprop's three, both hand loops) draws the epoch's
permutation and then each step's masks, layer by layer, from one generator seeded like the
others, so they all drop the same units. PyTorch draws its masks from its own generator, so
``--check`` gives its model a stand-in dropout layer with masks from that same NumPy stream
(the timed runs use torch.nn.Dropout). With the masks shared, ``--check`` compares the Linear
weights and biases, batch norm's weight and bias and its running mean and variance.

Methods (columns):
  fit      deltaprop ``dp.Trainer(...).fit(X, y, epochs=1, ...)`` with metrics=["accuracy"]
  loop     deltaprop's plain loop: nn.Sequential, nn.CrossEntropyLoss, optim.SGD (optim.Adam)
  ops      deltaprop's engine without nn/optim: ops.linear, ops.relu, ops.cross_entropy (and
           ops.batch_norm, ops.dropout) on Parameters, and the hand loop's in-place update
           (isolates the engine from the layers)
  hand_bk  hand-written NumPy backprop, with per-batch loss and accuracy (what fit computes)
  hand     the same hand-written loop without the bookkeeping
  torch    PyTorch CPU eager: nn.Sequential, CrossEntropyLoss, optim.SGD (optim.Adam)
  sklearn  scikit-learn MLPClassifier(solver="sgd" or "adam"), one partial_fit epoch

This is a script, not a test: pytest never collects it (benchmarks/ is outside testpaths).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import resource
import subprocess
import sys
import time
import tracemalloc
import warnings
from dataclasses import dataclass, replace

import numpy as np

LR = 0.01  # SGD
ADAM_LR = 1e-3  # Adam, with torch's default betas and eps
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
DROPOUT = 0.2
BN_EPS = 1e-5  # BatchNorm1d's defaults
BN_MOMENTUM = 0.1
N_CLASSES = 10
SEED = 0


# --- cases and data -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    sizes: tuple[int, ...]  # input, hidden..., output
    batch: int
    n: int  # samples per epoch (full run)
    optimizer: str = "sgd"  # or "adam"
    bn_dropout: bool = False  # Linear -> BatchNorm1d -> ReLU -> Dropout per hidden layer

    @property
    def descent(self) -> str:
        return "stochastic" if self.batch == 1 else "minibatch"

    @property
    def lr(self) -> float:
        return ADAM_LR if self.optimizer == "adam" else LR


CASES = [
    Case("784-256-128-10/b128", (784, 256, 128, 10), 128, 32768),
    Case("784-512-512-10/b512", (784, 512, 512, 10), 512, 32768),
    Case("64-32-10/b1", (64, 32, 10), 1, 16384),
    Case("64-128-10/b32", (64, 128, 10), 32, 65536),
    Case("784-256-128-10/b128/Adam", (784, 256, 128, 10), 128, 32768, optimizer="adam"),
    Case("784-256-128-10/b128/dropout+batchnorm", (784, 256, 128, 10), 128, 32768, bn_dropout=True),
]
CASE_BY_NAME = {c.name: c for c in CASES}


def make_data(d: int, n: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Seeded synthetic classification data: 10 Gaussian blobs in d dims, float32 X, int64 y."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((N_CLASSES, d), dtype=np.float32)
    y = rng.integers(0, N_CLASSES, n, dtype=np.int64)
    X = rng.standard_normal((n, d), dtype=np.float32)
    X += 0.5 * centers[y]
    return X, y


def init_weights(sizes: tuple[int, ...], seed: int = SEED) -> list[tuple[np.ndarray, np.ndarray]]:
    """He-normal weights W (in, out) and zero biases, float32: every method starts from these."""
    rng = np.random.default_rng(seed + 1)
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        w = rng.standard_normal((fan_in, fan_out), dtype=np.float32) * np.float32(
            np.sqrt(2.0 / fan_in)
        )
        layers.append((w, np.zeros(fan_out, dtype=np.float32)))
    return layers


# --- a method = setup(case, X, y) -> epoch() ---------------------------------------------------


class Unavailable(Exception):
    """The method cannot run here (a package or a deltaprop module is missing)."""


class NotApplicable(Exception):
    """The method has no version of this case (sklearn has no batch norm): its cells read n/a."""


def init_bn(case) -> list[list[np.ndarray]]:
    """Per hidden layer: [gamma (ones), beta (zeros), running_mean (zeros), running_var (ones)]."""
    ones, zeros = np.ones, np.zeros
    return [
        [ones(c, np.float32), zeros(c, np.float32), zeros(c, np.float32), ones(c, np.float32)]
        for c in case.sizes[1:-1]
    ]


def make_adam(arrays, lr=ADAM_LR, betas=ADAM_BETAS, eps=ADAM_EPS):
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


def setup_hand(case, X, y, bookkeeping: bool):
    """The hand-written NumPy loop: the practical limit for a NumPy engine.

    Reductions call the ufuncs (np.add.reduce, np.maximum.reduce) rather than the ndarray
    methods (.sum, .max), whose Python wrappers cost ~0.5 µs a call: same math, and the anchor
    is as fast as plain NumPy gets at batch size 1."""
    if case.bn_dropout:
        return setup_hand_bn(case, X, y, bookkeeping)
    add_reduce, max_reduce = np.add.reduce, np.maximum.reduce
    params = [(w.copy(), b.copy()) for w, b in init_weights(case.sizes)]
    Ws = [w for w, _ in params]
    bs = [b for _, b in params]
    n_layers = len(Ws)
    B = case.batch
    rng = np.random.default_rng(SEED + 2)
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


def setup_hand_bn(case, X, y, bookkeeping: bool):
    """The hand loop with Linear -> BatchNorm1d -> ReLU -> Dropout per hidden layer, SGD.

    Batch norm (training mode) per channel over the batch, m rows: x_hat = (z - mean) * inv_std,
    inv_std = 1 / sqrt(var + eps) (biased var), out = gamma * x_hat + beta; the backward is
    dz = gamma * inv_std * (g - sum(g) / m - x_hat * sum(g * x_hat) / m), dgamma = sum(g * x_hat),
    dbeta = sum(g). Running statistics are updated as torch does (unbiased running variance).
    Dropout: the mask keep / (1 - p) drawn from the generator of the permutation."""
    add_reduce, max_reduce = np.add.reduce, np.maximum.reduce
    params = [(w.copy(), b.copy()) for w, b in init_weights(case.sizes)]
    Ws = [w for w, _ in params]
    bs = [b for _, b in params]
    bn = init_bn(case)
    n_layers = len(Ws)
    B = case.batch
    rng = np.random.default_rng(SEED + 2)
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


# --check sets this: PyTorch's dropout then takes its masks from the NumPy stream the other
# methods use (see the module docstring), so that the weights can be compared.
TORCH_NUMPY_MASKS = False


def setup_torch(case, X, y):
    try:
        import torch
    except ImportError as e:
        raise Unavailable("torch is not installed") from e
    torch.set_num_threads(os.cpu_count() or 1)
    rng = np.random.default_rng(SEED + 2)

    class NumpyDropout(torch.nn.Module):
        """Dropout with the mask drawn from ``rng`` like deltaprop's (for --check only)."""

        def forward(self, x):
            keep = rng.random(tuple(x.shape), dtype=np.float32) >= DROPOUT
            return x * torch.from_numpy(keep * np.float32(1.0 / (1.0 - DROPOUT)))

    layers = []
    n_layers = len(case.sizes) - 1
    for k, (w, b) in enumerate(init_weights(case.sizes)):
        lin = torch.nn.Linear(w.shape[0], w.shape[1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w.T.copy()))
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if k < n_layers - 1:
            if case.bn_dropout:
                layers.append(torch.nn.BatchNorm1d(w.shape[1], eps=BN_EPS, momentum=BN_MOMENTUM))
            layers.append(torch.nn.ReLU())
            if case.bn_dropout:
                layers.append(NumpyDropout() if TORCH_NUMPY_MASKS else torch.nn.Dropout(DROPOUT))
    model = torch.nn.Sequential(*layers)
    model.train()
    loss_fn = torch.nn.CrossEntropyLoss()
    if case.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=ADAM_LR, betas=ADAM_BETAS, eps=ADAM_EPS)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=LR)
    B = case.batch

    def epoch():
        n = len(X)
        perm = rng.permutation(n)
        Xs, ys = torch.from_numpy(X[perm]), torch.from_numpy(y[perm])
        for i in range(0, n, B):
            opt.zero_grad()
            loss_fn(model(Xs[i : i + B]), ys[i : i + B]).backward()
            opt.step()

    def weights():
        def arr(t):
            return t.detach().numpy()

        lins = [m for m in model if isinstance(m, torch.nn.Linear)]
        bns = [m for m in model if isinstance(m, torch.nn.BatchNorm1d)]
        return (
            [(arr(m.weight).T, arr(m.bias)) for m in lins]
            + [(arr(m.weight), arr(m.bias)) for m in bns]
            + [(arr(m.running_mean), arr(m.running_var)) for m in bns]
        )

    epoch.weights = weights
    return epoch


def setup_sklearn(case, X, y):
    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
    except ImportError as e:
        raise Unavailable("scikit-learn is not installed") from e
    if case.bn_dropout:
        raise NotApplicable("MLPClassifier has no batch norm or dropout")
    if case.optimizer == "adam":
        solver = {
            "solver": "adam",
            "beta_1": ADAM_BETAS[0],
            "beta_2": ADAM_BETAS[1],
            "epsilon": ADAM_EPS,
        }
    else:
        solver = {"solver": "sgd", "momentum": 0.0, "nesterovs_momentum": False}
    clf = MLPClassifier(
        hidden_layer_sizes=case.sizes[1:-1],
        activation="relu",
        batch_size=case.batch,
        learning_rate_init=case.lr,
        **solver,
        max_iter=1,
        shuffle=True,
        alpha=0.0,
        tol=0.0,
        n_iter_no_change=10**9,
        random_state=SEED,
    )
    classes = np.arange(N_CLASSES)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    state = {"first": True}

    def epoch():
        if state["first"]:  # the first call also allocates the weights (sklearn's own init)
            state["first"] = False
            clf.partial_fit(X, y, classes=classes)
        else:
            clf.partial_fit(X, y)

    epoch.weights = lambda: list(zip(clf.coefs_, clf.intercepts_))
    return epoch


def _dp_modules(case=None):
    import deltaprop as dp

    try:
        from deltaprop import nn, optim
    except ImportError as e:
        raise Unavailable(f"deltaprop.nn / deltaprop.optim not importable yet ({e})") from e
    needed = ["nn.Linear", "nn.ReLU", "nn.CrossEntropyLoss", "nn.Sequential", "optim.SGD"]
    if case is not None and case.bn_dropout:
        needed += ["nn.BatchNorm1d", "nn.Dropout"]
    if case is not None and case.optimizer == "adam":
        needed.append("optim.Adam")
    for name in needed:
        mod = nn if name.startswith("nn.") else optim
        if not hasattr(mod, name.split(".")[1]):
            raise Unavailable(f"deltaprop.{name} is missing")
    return dp, nn, optim


def _dp_model(case, nn):
    """nn.Sequential(Linear, [BatchNorm1d,] ReLU, [Dropout,] ..., Linear) holding the shared
    initial weights (batch norm starts at gamma = 1, beta = 0 in every method)."""
    layers = []
    init = init_weights(case.sizes)
    for k, (w, b) in enumerate(init):
        lin = nn.Linear(w.shape[0], w.shape[1], init="he")
        weight, bias = lin.weight, lin.bias
        if weight.data.shape == w.shape:
            weight.data = w.copy()
        elif weight.data.shape == w.T.shape:  # (out, in) layout
            weight.data = np.ascontiguousarray(w.T)
        else:
            raise Unavailable(f"nn.Linear weight has shape {weight.data.shape}")
        bias.data = b.copy().reshape(bias.data.shape)
        layers.append(lin)
        if k < len(init) - 1:
            if case.bn_dropout:
                layers.append(nn.BatchNorm1d(w.shape[1], eps=BN_EPS, momentum=BN_MOMENTUM))
            layers.append(nn.ReLU())
            if case.bn_dropout:
                layers.append(nn.Dropout(DROPOUT))
    return nn.Sequential(*layers)


def _dp_optimizer(case, optim, params):
    if case.optimizer == "adam":
        return optim.Adam(params, lr=ADAM_LR, betas=ADAM_BETAS, eps=ADAM_EPS)
    return optim.SGD(params, lr=LR)


def _dp_weights(model, nn, sizes):
    """[(W (in, out), b) per Linear] + [(gamma, beta) per BatchNorm1d] + [(running mean, var)]."""
    out = []
    bns = []
    for m in model:
        if isinstance(m, nn.Linear):
            w = m.weight.data
            out.append((w if w.shape[0] == sizes[len(out)] else w.T, m.bias.data))
        elif isinstance(m, getattr(nn, "BatchNorm1d", ())):
            bns.append(m)
    out += [(m.weight.data, m.bias.data) for m in bns]
    out += [(m.running_mean.data, m.running_var.data) for m in bns]
    return out


def setup_dp_fit(case, X, y):
    dp, nn, optim = _dp_modules(case)
    Trainer = getattr(dp, "Trainer", None)
    if Trainer is None:  # not re-exported yet: the module itself
        try:
            from deltaprop.train import Trainer
        except ImportError as e:
            raise Unavailable(f"dp.Trainer is missing ({e})") from e
    model = _dp_model(case, nn)
    trainer = Trainer(
        model,
        loss=nn.CrossEntropyLoss(),
        optimizer=_dp_optimizer(case, optim, model.parameters()),
        metrics=["accuracy"],
    )
    # fit draws the permutation and then the dropout masks from deltaprop's generator
    dp.seed(SEED + 2)
    kwargs = {"descent": case.descent, "shuffle": True, "verbose": False}
    if case.descent == "minibatch":
        kwargs["batch_size"] = case.batch

    def epoch():
        return trainer.fit(X, y, epochs=1, **kwargs)

    epoch.weights = lambda: _dp_weights(model, nn, case.sizes)
    return epoch


def setup_dp_loop(case, X, y):
    dp, nn, optim = _dp_modules(case)
    from deltaprop import backend

    model = _dp_model(case, nn)
    model.train()
    loss_fn = nn.CrossEntropyLoss()
    opt = _dp_optimizer(case, optim, model.parameters())
    B = case.batch
    dp.seed(SEED + 2)  # nn.Dropout draws from deltaprop's generator: the permutation does too
    rng = backend.rng()
    Tensor = dp.Tensor

    def epoch():
        n = len(X)
        perm = rng.permutation(n)
        Xs, ys = X[perm], y[perm]
        for i in range(0, n, B):
            opt.zero_grad()
            loss_fn(model(Tensor(Xs[i : i + B])), ys[i : i + B]).backward()
            opt.step()

    epoch.weights = lambda: _dp_weights(model, nn, case.sizes)
    return epoch


def setup_dp_ops(case, X, y):
    """deltaprop's engine with no nn/optim: the ops on Parameters, updated in place (SGD, or
    the hand loop's Adam)."""
    import deltaprop as dp
    from deltaprop.nn.module import Parameter
    from deltaprop.ops import cross_entropy, linear, relu

    params = [(Parameter(w.copy()), Parameter(b.copy())) for w, b in init_weights(case.sizes)]
    flat = [p for pair in params for p in pair]
    hidden, (w_out, b_out) = params[:-1], params[-1]
    B = case.batch
    rng = np.random.default_rng(SEED + 2)
    Tensor = dp.Tensor
    lr = np.float32(LR)
    if case.bn_dropout:
        return _setup_dp_ops_bn(case, X, y, params, rng)
    adam = case.optimizer == "adam"
    if adam:
        adam_begin, adam_update = make_adam([p.data for p in flat])

    def epoch():
        n = len(X)
        perm = rng.permutation(n)
        Xs, ys = X[perm], y[perm]
        for i in range(0, n, B):
            for p in flat:
                p.grad = None
            h = Tensor(Xs[i : i + B])
            for w, b in hidden:
                h = relu(linear(h, w, b))
            cross_entropy(linear(h, w_out, b_out), ys[i : i + B]).backward()
            if adam:
                adam_begin()
                for j, p in enumerate(flat):
                    adam_update(j, p.data, p.grad.data)
                continue
            for p in flat:
                g = p.grad.data
                g *= lr
                p.data -= g

    epoch.weights = lambda: [(w.data, b.data) for w, b in params]
    return epoch


def _setup_dp_ops_bn(case, X, y, params, rng):
    """The ops loop with ops.batch_norm and ops.dropout (masks from ``rng``), SGD."""
    import deltaprop as dp
    from deltaprop.nn.module import Parameter
    from deltaprop.ops import batch_norm, cross_entropy, dropout, linear, relu

    bn = [
        (Parameter(g), Parameter(b), rm, rv) for g, b, rm, rv in init_bn(case)
    ]  # running statistics stay plain arrays, updated in place by the op
    flat = [p for pair in params for p in pair] + [p for s in bn for p in s[:2]]
    hidden, (w_out, b_out) = params[:-1], params[-1]
    B = case.batch
    Tensor = dp.Tensor
    lr = np.float32(LR)

    def epoch():
        n = len(X)
        perm = rng.permutation(n)
        Xs, ys = X[perm], y[perm]
        for i in range(0, n, B):
            for p in flat:
                p.grad = None
            h = Tensor(Xs[i : i + B])
            for (w, b), (gamma, beta, rm, rv) in zip(hidden, bn):
                h = batch_norm(linear(h, w, b), gamma, beta, rm, rv, True, BN_MOMENTUM, BN_EPS)
                h = dropout(relu(h), DROPOUT, training=True, generator=rng)
            cross_entropy(linear(h, w_out, b_out), ys[i : i + B]).backward()
            for p in flat:
                g = p.grad.data
                g *= lr
                p.data -= g

    epoch.weights = lambda: (
        [(w.data, b.data) for w, b in params]
        + [(g.data, b.data) for g, b, _, _ in bn]
        + [(rm, rv) for _, _, rm, rv in bn]
    )
    return epoch


METHODS = {
    "fit": ("deltaprop fit", setup_dp_fit),
    "loop": ("deltaprop loop", setup_dp_loop),
    "ops": ("deltaprop ops", setup_dp_ops),
    "hand_bk": ("hand+bk", lambda c, X, y: setup_hand(c, X, y, True)),
    "hand": ("hand", lambda c, X, y: setup_hand(c, X, y, False)),
    "torch": ("torch", setup_torch),
    "sklearn": ("sklearn", setup_sklearn),
}
RATIOS = [
    ("fit", "hand_bk"),
    ("loop", "hand"),
    ("ops", "hand"),
    ("torch", "hand"),
    ("sklearn", "hand"),
]


# --- measuring -----------------------------------------------------------------------------------


def settle_allocator(mb: int = 24) -> None:
    """Allocate and free one ``mb`` MB array so that glibc's dynamic mmap threshold rises to it
    (its ceiling is 32 MB) for every method alike.

    In a fresh process the threshold is 128 KB: each step's multi-MB temporaries (activations,
    gradients) are then mmapped and unmapped, or the heap top is trimmed, and faulted in again
    page by page on the next step (~1000-2000 minor faults per step at 784-512-512-10/b512, up
    to 2x slower). Freeing any mmapped block raises the threshold, so which regime a method
    lands in depends on what ran before it (dp.Trainer.fit frees a big validation temporary
    and so is always in the fast one). Settling it first makes the comparison fair;
    ``--cold-allocator`` skips this to show the other regime."""
    a = np.ones(mb * 2**20 // 4, dtype=np.float32)
    del a


def _minflt() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def time_round_robin(epochs: dict, repeats: int):
    """Per method: (min seconds per epoch, mean minor page faults per epoch).

    One warm-up epoch each, then ``repeats`` rounds that time one epoch of every method in
    turn, so that a burst of load from other processes hits all methods alike instead of
    one. Page faults show allocation churn: NumPy temporaries above glibc's mmap/trim
    thresholds are handed back to the OS and faulted in again, page by page, on the next step.
    """
    for epoch in epochs.values():
        epoch()  # warm-up: first-call allocations, BLAS buffers, sklearn's init
    runs: dict[str, list[float]] = {m: [] for m in epochs}
    faults = dict.fromkeys(epochs, 0)
    for _ in range(repeats):
        for m, epoch in epochs.items():
            gc.collect()
            f0 = _minflt()
            t0 = time.perf_counter()
            epoch()
            runs[m].append(time.perf_counter() - t0)
            faults[m] += _minflt() - f0
    return (
        [(m, min(r)) for m, r in runs.items()],
        [(m, f / repeats) for m, f in faults.items()],
        {m: float(np.median(r)) / min(r) - 1 for m, r in runs.items()},
    )


def traced_peak(epoch) -> float:
    """Peak of Python/NumPy allocations (tracemalloc) during one epoch, above the level at its
    start, in MB. NumPy reports its data buffers to tracemalloc; PyTorch's do not show."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        epoch()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return (peak - base) / 2**20


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


def rss_child(case_name: str, method: str, quick: bool, cold: bool) -> None:
    """Run in a fresh process: setup, then the first epoch with the RSS high-water mark reset
    just before it (Linux: write 5 to /proc/self/clear_refs). Prints growth in MB."""
    if not cold:
        settle_allocator()
    case = _scaled(CASE_BY_NAME[case_name], quick)
    X, y = make_data(case.sizes[0], case.n)
    epoch = METHODS[method][1](case, X, y)
    gc.collect()
    rss0 = _status_kb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    epoch()
    print((_status_kb("VmHWM") - rss0) / 1024)


def rss_growth(case: Case, method: str, quick: bool, cold: bool) -> float | None:
    cmd = [sys.executable, os.path.abspath(__file__), "--_rss-child", case.name, method]
    if quick:
        cmd.append("--quick")
    if cold:
        cmd.append("--cold-allocator")
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
        return float(out.stdout.strip().splitlines()[-1])
    except Exception:
        return None


def check(methods) -> int:
    """One epoch of each method from the same weights on the same batches: the final weights
    must agree with the hand-written loop's (sklearn has its own init and order: not compared).
    With dropout, every method uses the same masks (PyTorch through a stand-in layer); with
    batch norm, its weight, bias and running statistics are compared too. Tolerance: 1e-4 of
    each array's scale (1e-3 for PyTorch's Adam, see below)."""
    global TORCH_NUMPY_MASKS
    TORCH_NUMPY_MASKS = True
    status = 0
    for case in CASES:
        small = replace(case, n=512 if case.batch > 1 else 256)
        X, y = make_data(case.sizes[0], small.n)
        ref = None
        metrics = {}
        for m in methods:
            if m == "sklearn":
                continue
            try:
                epoch = METHODS[m][1](small, X, y)
            except (Unavailable, NotApplicable) as e:
                print(f"{case.name} {m}: skipped ({e})")
                continue
            out = epoch()
            if m == "hand_bk":
                metrics[m] = out
            elif m == "fit":
                h = out.history
                metrics[m] = (h["loss"][0], h["accuracy"][0])
            ws = [np.asarray(a, dtype=np.float64) for pair in epoch.weights() for a in pair]
            if ref is None:
                ref, ref_name = ws, m
                continue
            # Relative to each array's largest entry, or to 1e-3 when all its entries are
            # smaller: the Linear biases in front of a batch norm have a gradient of 0 up to
            # rounding, and hold only rounding noise (~1e-10) after the epoch.
            err = max(
                float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-3)) for a, b in zip(ws, ref)
            )
            # The NumPy methods share their arithmetic (bit-identical results); PyTorch's
            # differs in rounding, which Adam magnifies where a gradient entry is near 0: its
            # first step is lr * g / (|g| + eps), so a g of ~1e-8 (eps-sized) moves by a
            # rounding-dependent fraction of lr (~6e-5 here, one weight in ~10^5).
            tol = 1e-3 if m == "torch" and case.optimizer == "adam" else 1e-4
            ok = err < tol
            status |= not ok
            print(
                f"{case.name} {m} vs {ref_name}: max rel. weight difference {err:.2e} "
                f"{'ok' if ok else 'MISMATCH'}"
            )
        if len(metrics) == 2:
            (l1, a1), (l2, a2) = metrics["fit"], metrics["hand_bk"]
            ok = abs(l1 - l2) <= 1e-5 * abs(l2) and a1 == a2
            status |= not ok
            print(
                f"{case.name} fit (loss {l1:.6f}, accuracy {a1:.4f}) vs hand_bk (loss "
                f"{l2:.6f}, accuracy {a2:.4f}) {'ok' if ok else 'MISMATCH'}"
            )
    return status


def _scaled(case: Case, quick: bool) -> Case:
    return replace(case, n=case.n // 4) if quick else case


# --- the report ----------------------------------------------------------------------------------


def machine_lines() -> list[str]:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    lines = [
        f"- CPU: {cpu}; {os.cpu_count()} logical cores visible "
        f"(sched affinity: {len(os.sched_getaffinity(0))})",
        f"- Python {platform.python_version()}, NumPy {np.__version__}",
    ]
    try:
        from threadpoolctl import threadpool_info

        for info in threadpool_info():
            if info.get("user_api") == "blas":
                lines.append(
                    f"- BLAS: {info.get('internal_api')} {info.get('version')} "
                    f"({info.get('architecture')}, {info.get('num_threads')} threads, "
                    f"{os.path.basename(info.get('filepath', ''))})"
                )
    except ImportError:
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        lines.append(f"- BLAS: {cfg.get('name')} {cfg.get('version')}")
    lines.append(
        f"- OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')}, "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '(unset)')}"
    )
    try:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        lines.append(
            f"- PyTorch {torch.__version__}, torch.set_num_threads({os.cpu_count()}) "
            f"-> {torch.get_num_threads()} threads"
        )
    except ImportError:
        lines.append("- PyTorch: not installed (column skipped)")
    try:
        import sklearn

        lines.append(f"- scikit-learn {sklearn.__version__}")
    except ImportError:
        lines.append("- scikit-learn: not installed (column skipped)")
    try:
        import deltaprop

        src = os.path.dirname(deltaprop.__file__)
        lines.append(f"- deltaprop {deltaprop.__version__} ({src}){_git_state(src)}")
    except ImportError:
        pass
    return lines


def _git_state(path: str) -> str:
    """', commit abc1234' (+ ', uncommitted changes in src/' when the tree differs), or ''."""
    try:
        run = {"cwd": path, "capture_output": True, "text": True, "timeout": 10, "check": True}
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], **run).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "."], **run).stdout.strip()
    except Exception:
        return ""
    return f", commit {head}" + (", uncommitted changes in the package" if dirty else "")


def fmt_s(v) -> str:
    if v is None:
        return "n/a"
    return f"{v:.3f}" if v >= 0.1 else f"{v:.4f}"


def fmt_mb(v, approx=False) -> str:
    if v is None:
        return "n/a"
    return f"{v:.1f}" + ("†" if approx else "")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a quarter of the data, 2 runs")
    ap.add_argument("--repeats", type=int, default=None, help="timed epochs per method (min)")
    ap.add_argument(
        "--cases",
        nargs="+",
        default=None,
        choices=list(CASE_BY_NAME),
        metavar="CASE",
        help=f"subset of: {', '.join(CASE_BY_NAME)}",
    )
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument(
        "--memory",
        choices=("both", "tracemalloc", "rss", "none"),
        default=None,
        help="memory columns (default: both; --quick: tracemalloc)",
    )
    ap.add_argument(
        "--check",
        action="store_true",
        help="only check that the methods compute the same weights, then exit",
    )
    ap.add_argument(
        "--cold-allocator",
        action="store_true",
        help="do not settle glibc's mmap threshold first (see settle_allocator)",
    )
    ap.add_argument("--_rss-child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args._rss_child:
        rss_child(args._rss_child[0], args._rss_child[1], args.quick, args.cold_allocator)
        return 0

    if args.check:
        order = ["hand"] + [m for m in args.methods if m != "hand"]
        return check(order)

    if not args.cold_allocator:
        settle_allocator()
    repeats = args.repeats or (2 if args.quick else 7)
    memory = args.memory or ("tracemalloc" if args.quick else "both")
    cases = [_scaled(CASE_BY_NAME[name], args.quick) for name in (args.cases or CASE_BY_NAME)]
    methods = args.methods

    print("# deltaprop MLP benchmark: one training epoch, float32\n")
    print("\n".join(machine_lines()))
    print(
        f"- command: python benchmarks/{os.path.basename(__file__)} "
        + " ".join(argv if argv is not None else sys.argv[1:])
    )
    try:
        import deltaprop as _dp

        which = "dp.Trainer" if hasattr(_dp, "Trainer") else "deltaprop.train.Trainer"
        print(f"- deltaprop fit uses {which}")
    except ImportError:
        pass
    print(
        "- allocator: "
        + (
            "left cold (--cold-allocator)"
            if args.cold_allocator
            else "glibc mmap threshold settled by one 24 MB allocation first (see settle_allocator)"
        )
    )
    print("- load average (1, 5, 15 min) at start: {:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg()))
    print(
        f"- time: min of {repeats} epochs after 1 warm-up epoch each, same process, the methods "
        f"taken in turn each round; SGD lr={LR} (the Adam case: Adam lr={ADAM_LR}), shuffled "
        "each epoch\n",
        flush=True,
    )

    times: dict[tuple[str, str], float | None] = {}
    traced: dict[tuple[str, str], float | None] = {}
    faults: dict[tuple[str, str], float | None] = {}
    spread: dict[tuple[str, str], float] = {}
    rss: dict[tuple[str, str], float | None] = {}
    skipped: dict[str, str] = {}
    not_applicable: list[str] = []
    t_start = time.perf_counter()
    for case in cases:
        X, y = make_data(case.sizes[0], case.n)
        epochs = {}
        for m in methods:
            times[case.name, m] = traced[case.name, m] = rss[case.name, m] = None
            faults[case.name, m] = None
            try:
                epochs[m] = METHODS[m][1](case, X, y)
            except Unavailable as e:
                skipped[m] = str(e)
            except NotApplicable as e:
                not_applicable.append(f"{METHODS[m][0]} at {case.name} ({e})")
        bests, flts, spreads = time_round_robin(epochs, repeats)
        for (m, best), (_, flt) in zip(bests, flts):
            times[case.name, m], faults[case.name, m] = best, flt
            spread[case.name, m] = spreads[m]
            print(
                f"  [{case.name} n={case.n}] {METHODS[m][0]}: {fmt_s(best)} s",
                file=sys.stderr,
                flush=True,
            )
        for m, epoch in epochs.items():
            if memory in ("both", "tracemalloc"):
                traced[case.name, m] = traced_peak(epoch)
            if memory in ("both", "rss"):
                rss[case.name, m] = rss_growth(case, m, args.quick, args.cold_allocator)
        del epochs
        gc.collect()

    shown = [m for m in methods if m not in skipped]
    ratios = [(a, b) for a, b in RATIOS if a in shown and b in shown]
    print("## Seconds per epoch (lower is better) and ratios to the hand-written loop\n")
    head = ["case", "n"] + [METHODS[m][0] for m in shown] + [f"{a} / {b}" for a, b in ratios]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(["---"] + ["--:"] * (len(head) - 1)) + "|")
    for case in cases:
        row = [f"{case.name}", str(case.n)] + [fmt_s(times[case.name, m]) for m in shown]
        for a, b in ratios:
            ta, tb = times[case.name, a], times[case.name, b]
            row.append(f"{ta / tb:.2f}x" if ta and tb else "n/a")
        print("| " + " | ".join(row) + " |")
    print("\nNoise: median / min - 1 over the timed epochs, per method:\n")
    print("| case | " + " | ".join(METHODS[m][0] for m in shown) + " |")
    print("|---|" + "--:|" * len(shown))
    for case in cases:
        cells = [
            f"{100 * spread[case.name, m]:.1f}%" if (case.name, m) in spread else "n/a"
            for m in shown
        ]
        print(f"| {case.name} | " + " | ".join(cells) + " |")
    print("\nPer step: µs (minor page faults), same runs:\n")
    print("| case | steps | " + " | ".join(METHODS[m][0] for m in shown) + " |")
    print("|---|--:|" + "--:|" * len(shown))
    for case in cases:
        steps = -(-case.n // case.batch)
        cells = [
            f"{1e6 * times[case.name, m] / steps:.0f} ({faults[case.name, m] / steps:.1f})"
            if times[case.name, m] is not None
            else "n/a"
            for m in shown
        ]
        print(f"| {case.name} | {steps} | " + " | ".join(cells) + " |")

    if memory != "none":
        print("\n## Peak memory during one epoch (MB)\n")
        cols = []
        if memory in ("both", "tracemalloc"):
            cols.append(("traced", traced))
        if memory in ("both", "rss"):
            cols.append(("RSS", rss))
        head = ["case", "X,y copy"] + [f"{METHODS[m][0]} {c}" for c, _ in cols for m in shown]
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join(["---"] + ["--:"] * (len(head) - 1)) + "|")
        for case in cases:
            cells = [
                fmt_mb(d[case.name, m], approx=(c == "traced" and m == "torch"))
                for c, d in cols
                for m in shown
            ]
            copy_mb = case.n * (case.sizes[0] * 4 + 8) / 2**20
            print(f"| {case.name} | {copy_mb:.1f} | " + " | ".join(cells) + " |")
        print()
        if memory in ("both", "tracemalloc"):
            print(
                "- traced: tracemalloc peak of Python and NumPy allocations during one (warm) "
                "epoch, above the level at its start; it includes the epoch's shuffled copy of X "
                "and y ('X,y copy'; sklearn indexes each batch instead). † PyTorch's tensor "
                "memory is not visible to tracemalloc: its cell counts only the NumPy shuffled "
                "copy."
            )
        if memory in ("both", "rss"):
            print(
                "- RSS: growth of the resident set's high-water mark (VmHWM, reset through "
                "/proc/self/clear_refs) over the first epoch in a fresh process, above VmRSS "
                "before it; counts every allocator (PyTorch's too) and one-time first-epoch "
                "costs, but not pages the epoch reuses from memory freed during setup (so it "
                "can read below 'traced' for small data); page-granular."
            )
    if skipped:
        print("\nSkipped: " + "; ".join(f"{METHODS[m][0]} ({why})" for m, why in skipped.items()))
    if not_applicable:
        print("\nNot applicable (n/a): " + "; ".join(not_applicable))
    print(
        "\nNotes: 'hand+bk' computes loss and accuracy per batch like dp.Trainer does; 'hand' "
        "does not, like the plain loops and torch (sklearn's partial_fit computes its loss every "
        "batch regardless). fit includes Trainer.fit's per-call setup (one epoch per call)."
    )
    print(
        "\nLoad average (1, 5, 15 min) at the end: {:.2f}, {:.2f}, {:.2f} (other processes on "
        "the machine disturb the timings)".format(*os.getloadavg())
    )
    print(f"\n(total benchmark time {time.perf_counter() - t_start:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
