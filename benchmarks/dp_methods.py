"""deltaprop's three versions of the benchmark's epoch: ``Trainer.fit`` (fit), the plain loop
with nn and optim (loop), and the engine alone: ops on Parameters, updated in place (ops).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import workload as wl
from hand_loops import make_adam
from workload import Case, init_bn, init_weights

import deltaprop as dp
from deltaprop import backend, nn, optim
from deltaprop.nn import Parameter
from deltaprop.ops import batch_norm, cross_entropy, dropout, linear, relu


def dp_model(case: Case) -> nn.Sequential:
    """nn.Sequential(Linear, [BatchNorm1d,] ReLU, [Dropout,] ..., Linear) holding the shared
    initial weights, W (in, out) as in nn.Linear (batch norm starts at gamma = 1, beta = 0 in
    every method)."""
    layers = []
    init = init_weights(case.sizes)
    for k, (w, b) in enumerate(init):
        lin = nn.Linear(w.shape[0], w.shape[1], init="he")
        if lin.weight.data.shape != w.shape:  # the comparison needs the (in, out) layout
            raise ValueError(f"nn.Linear weight has shape {lin.weight.data.shape}, not {w.shape}")
        lin.weight.data = w.copy()
        lin.bias.data = b.copy().reshape(lin.bias.data.shape)
        layers.append(lin)
        if k < len(init) - 1:
            if case.bn_dropout:
                layers.append(nn.BatchNorm1d(w.shape[1], eps=wl.BN_EPS, momentum=wl.BN_MOMENTUM))
            layers.append(nn.ReLU())
            if case.bn_dropout:
                layers.append(nn.Dropout(wl.DROPOUT))
    return nn.Sequential(*layers)


def dp_optimizer(case: Case, params) -> optim.Optimizer:
    if case.optimizer == "adam":
        return optim.Adam(params, lr=wl.ADAM_LR, betas=wl.ADAM_BETAS, eps=wl.ADAM_EPS)
    return optim.SGD(params, lr=wl.LR)


def _weights(model: nn.Sequential) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(W (in, out), b) per Linear] + [(gamma, beta) per BatchNorm1d] + [(running mean, var)]."""
    out = [(m.weight.data, m.bias.data) for m in model if isinstance(m, nn.Linear)]
    bns = [m for m in model if isinstance(m, nn.BatchNorm1d)]
    out += [(m.weight.data, m.bias.data) for m in bns]
    out += [(m.running_mean.data, m.running_var.data) for m in bns]
    return out


def setup_dp_fit(case: Case, X: np.ndarray, y: np.ndarray) -> Callable:
    """``dp.Trainer(...).fit(X, y, epochs=1, ...)`` with metrics=["accuracy"]; X (n, d) float32,
    y (n,) int64. The epoch returns fit's History."""
    model = dp_model(case)
    trainer = dp.Trainer(
        model,
        loss=nn.CrossEntropyLoss(),
        optimizer=dp_optimizer(case, model.parameters()),
        metrics=["accuracy"],
    )
    # fit draws the permutation and then the dropout masks from deltaprop's generator
    dp.seed(wl.SEED + 2)
    kwargs = {"descent": case.descent, "shuffle": True, "verbose": False}
    if case.descent == "minibatch":
        kwargs["batch_size"] = case.batch

    def epoch():
        return trainer.fit(X, y, epochs=1, **kwargs)

    epoch.weights = lambda: _weights(model)
    return epoch


def setup_dp_loop(case: Case, X: np.ndarray, y: np.ndarray) -> Callable:
    """The plain loop: zero_grad, loss_fn(model(Tensor(xb)), yb).backward(), step."""
    model = dp_model(case)
    model.train()
    loss_fn = nn.CrossEntropyLoss()
    opt = dp_optimizer(case, model.parameters())
    B = case.batch
    dp.seed(wl.SEED + 2)  # nn.Dropout draws from deltaprop's generator: the permutation does too
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

    epoch.weights = lambda: _weights(model)
    return epoch


def setup_dp_ops(case: Case, X: np.ndarray, y: np.ndarray) -> Callable:
    """deltaprop's engine with no nn/optim: the ops on Parameters, updated in place (SGD, or
    the hand loop's Adam); with ``case.bn_dropout``, ops.batch_norm and ops.dropout (masks
    from the generator of the permutation) in every hidden block."""
    params = [(Parameter(w.copy()), Parameter(b.copy())) for w, b in init_weights(case.sizes)]
    # gamma and beta per hidden block; the running statistics stay plain arrays, updated in
    # place by the op
    bn = [(Parameter(g), Parameter(b), rm, rv) for g, b, rm, rv in init_bn(case)]
    bn = bn if case.bn_dropout else []
    flat = [p for pair in params for p in pair] + [p for s in bn for p in s[:2]]
    hidden, (w_out, b_out) = params[:-1], params[-1]
    B = case.batch
    rng = np.random.default_rng(wl.SEED + 2)
    Tensor = dp.Tensor
    lr = np.float32(wl.LR)
    momentum, eps, p_drop = wl.BN_MOMENTUM, wl.BN_EPS, wl.DROPOUT
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
            if bn:
                for (w, b), (gamma, beta, rm, rv) in zip(hidden, bn):
                    h = batch_norm(linear(h, w, b), gamma, beta, rm, rv, True, momentum, eps)
                    h = dropout(relu(h), p_drop, training=True, generator=rng)
            else:
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

    epoch.weights = lambda: (
        [(w.data, b.data) for w, b in params]
        + [(g.data, b.data) for g, b, _, _ in bn]
        + [(rm, rv) for _, _, rm, rv in bn]
    )
    return epoch
