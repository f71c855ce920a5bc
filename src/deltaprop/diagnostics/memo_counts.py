"""Why reverse mode memoizes: the chain rule path by path against backprop, counted and timed.

The network is an MLP ``sizes = [n_0, n_1, ..., n_D]`` (D Linear layers, an activation f after
every layer but the last) on ONE example, with the loss ``L = 0.5 * sum((y - t)^2)``.

Path by path (no memo). The gradient of a weight ``W^l[i, j]`` is a sum over every path from
unit j of layer l to an output unit k; each path multiplies its local derivatives separately::

    dL/dW^l[i,j] = sum over (j_{l+1}, ..., j_D) of
              a^{l-1}_i * f'(z^l_j) * W^{l+1}[j, j_{l+1}] * ... * W^D[j_{D-1}, j_D] * (y-t)_{j_D}

    P_l = n_{l+1} * ... * n_D paths, each 2(D - l) + 1 multiplications (a bias: 2(D - l))
    naive = sum_l  P_l * (n_{l-1} n_l (2(D-l) + 1) + n_l 2(D-l))

Reverse mode (memo): the delta of each layer is computed once and reused by every weight and
every layer below it::

    delta^D = y - t                                 0 multiplications
    dW^l = a^{l-1}^T delta^l                        B n_{l-1} n_l
    delta^{l-1} = (delta^l W^l^T) * f'(z^{l-1})     B n_l n_{l-1} + B n_{l-1}   (l >= 2)
    memo = sum_l B n_{l-1} n_l + sum_{l>=2} B (n_l n_{l-1} + n_{l-1})

Both count only the multiplications of the chain rule (upstream gradient times local
derivative); the local derivatives themselves (f'(z), which both methods need once per unit) and
additions are not counted. The naive count grows like width^depth; the memo count like
depth * width^2.

Functions: :func:`naive_count`, :func:`memo_count`, :func:`naive_gradients` (actually walks
every path, with itertools), :func:`engine_gradients`. The table of both against depth, and the
``deltaprop memo-demo`` command's output: :mod:`deltaprop.diagnostics.memo`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import nn
from ..autograd.tensor import Tensor
from ..checks import check_choice, check_int
from ..errors import ConfigError

ACTIVATIONS = ("tanh", "sigmoid")


def mlp_sizes(depth: int, width: int, n_in: int | None = None, n_out: int = 1) -> list[int]:
    """``[n_in] + [width] * (depth - 1) + [n_out]``: ``depth`` Linear layers (n_in defaults to
    width)."""
    depth = check_int(depth, "depth")
    width = check_int(width, "width")
    return [width if n_in is None else n_in] + [width] * (depth - 1) + [n_out]


def naive_count(sizes: Sequence[int]) -> int:
    """Chain-rule multiplications of the path-by-path gradient of every weight and bias."""
    sizes = check_sizes(sizes)
    depth = len(sizes) - 1
    total = 0
    for layer in range(1, depth + 1):
        paths = math.prod(sizes[layer + 1 :])
        hops = 2 * (depth - layer)
        total += paths * sizes[layer - 1] * sizes[layer] * (hops + 1)  # weights
        total += paths * sizes[layer] * hops  # biases
    return total


def memo_count(sizes: Sequence[int], batch: int = 1) -> int:
    """Chain-rule multiplications of one reverse-mode backward pass (gradients reused)."""
    sizes = check_sizes(sizes)
    batch = check_int(batch, "batch")
    total = 0
    for layer in range(len(sizes) - 1, 0, -1):
        n_in, n_out = sizes[layer - 1], sizes[layer]
        total += batch * n_in * n_out  # dW = a^T delta (matmul m*n*k)
        if layer > 1:
            total += batch * n_out * n_in + batch * n_in  # delta W^T, then * f'(z)
    return total


def path_count(sizes: Sequence[int]) -> int:
    """Number of input-to-output paths through the network: n_0 * n_1 * ... * n_D."""
    return math.prod(check_sizes(sizes))


def random_mlp(sizes: Sequence[int], seed: int = 0) -> tuple[list, list, np.ndarray, np.ndarray]:
    """Float64 weights (W^l shaped (n_{l-1}, n_l)), biases, one input x and one target t."""
    sizes = check_sizes(sizes)
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0, 1 / math.sqrt(a), (a, b)) for a, b in zip(sizes, sizes[1:])]
    biases = [rng.normal(0, 0.1, b) for b in sizes[1:]]
    return weights, biases, rng.normal(size=sizes[0]), rng.normal(size=sizes[-1])


def naive_gradients(weights, biases, x, t, activation: str = "tanh"):
    """Gradients of ``L = 0.5 * sum((y - t)^2)`` by the chain rule applied path by path.

    Every path from a parameter to an output unit multiplies its local derivatives on its own
    (plain NumPy scalars and itertools, no reuse between paths). Returns
    ``(weight_grads, bias_grads, multiplications)``; the count equals :func:`naive_count`.
    """
    activation = check_activation(activation)
    depth = len(weights)
    sizes = [weights[0].shape[0]] + [w.shape[1] for w in weights]
    # forward: a[0] = x, a[l] = f(z^l); fprime[l] = f'(z^l) (the local derivatives)
    a = [np.asarray(x, dtype=np.float64)]
    fprime: list[Any] = [None]
    for layer, (w, b) in enumerate(zip(weights, biases), start=1):
        z = a[-1] @ w + b
        if layer == depth:
            a.append(z)
            fprime.append(None)
        elif activation == "tanh":
            y = np.tanh(z)
            a.append(y)
            fprime.append(1 - y * y)
        else:
            y = 0.5 * (1 + np.tanh(0.5 * z))
            a.append(y)
            fprime.append(y * (1 - y))
    dy = a[-1] - np.asarray(t, dtype=np.float64)  # dL/dy: a subtraction, no multiplication

    mults = 0
    grad_w = [np.zeros_like(w) for w in weights]
    grad_b = [np.zeros_like(b) for b in biases]
    for layer in range(1, depth + 1):
        tails = list(itertools.product(*[range(n) for n in sizes[layer + 1 :]]))
        for j in range(sizes[layer]):
            for tail in tails:
                # local derivatives along the path j -> tail[0] -> ... -> output unit
                nodes = (j,) + tail
                factors = []
                for m in range(layer, depth):
                    factors.append(fprime[m][nodes[m - layer]])
                    factors.append(weights[m][nodes[m - layer], nodes[m - layer + 1]])
                factors.append(dy[nodes[-1]])
                path = factors[0]
                for f in factors[1:]:
                    path = path * f
                    mults += 1
                grad_b[layer - 1][j] += path
                for i in range(sizes[layer - 1]):
                    # the weight's own path: a^{l-1}_i times the same factors, multiplied anew
                    prod = a[layer - 1][i]
                    for f in factors:
                        prod = prod * f
                        mults += 1
                    grad_w[layer - 1][i, j] += prod
    return grad_w, grad_b, mults


def engine_gradients(weights, biases, x, t, activation: str = "tanh"):
    """The same gradients from deltaprop's engine (nn.Linear in float64 + backward)."""
    run = engine_runner(weights, biases, x, t, activation)
    return run()


def engine_runner(weights, biases, x, t, activation: str = "tanh"):
    """Build the model once; the returned function runs forward + backward and returns the
    (weight_grads, bias_grads) as NumPy arrays (so it can be timed without the building)."""
    activation = check_activation(activation)
    layers: list = []
    for layer, (w, b) in enumerate(zip(weights, biases), start=1):
        lin = nn.Linear(w.shape[0], w.shape[1], dtype="float64")
        lin.weight.data[...] = w
        lin.bias.data[...] = b
        layers.append(lin)
        if layer < len(weights):
            layers.append(nn.Tanh() if activation == "tanh" else nn.Sigmoid())
    model = nn.Sequential(*layers)
    lins = layers[::2]
    xt = Tensor(np.asarray(x, dtype=np.float64)[None, :], dtype="float64")
    tt = Tensor(np.asarray(t, dtype=np.float64)[None, :], dtype="float64")

    def run():
        model.zero_grad()
        diff = model(xt) - tt
        ((diff * diff).sum() * 0.5).backward()
        return [m.weight.grad.numpy() for m in lins], [m.bias.grad.numpy() for m in lins]

    return run


def check_sizes(sizes: Sequence[int]) -> list[int]:
    """The layer sizes ``[n_0, ..., n_D]`` of an MLP: at least two positive integers."""
    sizes = [check_int(n, "sizes[]") for n in sizes]
    if len(sizes) < 2:
        raise ConfigError(f"sizes: expected at least [n_in, n_out], got {sizes}")
    return sizes


def check_activation(name: str) -> str:
    """``"tanh"`` or ``"sigmoid"`` (the activations the path-by-path gradient knows)."""
    return check_choice(name, ACTIVATIONS, "activation")


__all__ = [
    "ACTIVATIONS", "check_activation", "check_sizes", "engine_gradients", "engine_runner",
    "memo_count", "mlp_sizes", "naive_count", "naive_gradients", "path_count", "random_mlp",
]  # fmt: skip
