"""Random expression graphs, checked by finite differences and against float64 PyTorch.

Each seed writes a small program (5-15 ops mixing elementwise math, reductions, matmul, linear
and activations) whose operands are drawn from everything computed so far, so tensors are reused
several times and the graph has diamonds. Every leaf gradient must pass the float64 gradient
check (always), and values and gradients must match torch's (where torch is installed).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import deltaprop as dp
import deltaprop.ops as DP
from deltaprop.autograd import gradcheck_errors

try:  # optional: only the parity test needs it
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

# The few names whose spelling differs between the two libraries.
LIBS = {
    "dp": SimpleNamespace(
        gelu=DP.gelu,
        elu=DP.elu,
        leaky=lambda x: DP.leaky_relu(x, 0.1),
        maximum=DP.maximum,
        amax=lambda x, axis: DP.max(x, axis=axis, keepdims=True),
        amin=lambda x, axis: DP.min(x, axis=axis, keepdims=True),
        linear=DP.linear,
        cat=lambda ts, axis: DP.concatenate(ts, axis=axis),
        mse=DP.mse_loss,
        ce=DP.cross_entropy,
    ),
}
if torch is not None:
    TF = torch.nn.functional
    LIBS["torch"] = SimpleNamespace(
        gelu=TF.gelu,
        elu=TF.elu,
        leaky=lambda x: TF.leaky_relu(x, 0.1),
        maximum=torch.maximum,
        amax=lambda x, axis: torch.amax(x, dim=axis, keepdim=True),
        amin=lambda x, axis: torch.amin(x, dim=axis, keepdim=True),
        linear=lambda x, w, b: TF.linear(x, w.T, b),
        cat=lambda ts, axis: torch.cat(ts, dim=axis),
        mse=TF.mse_loss,
        ce=TF.cross_entropy,
    )

# name -> (operand shapes it accepts, function). "*" accepts any shape; "M" is (3, 4).
UNARY = {
    "tanh": lambda L, x: x.tanh(),
    "sigmoid": lambda L, x: x.sigmoid(),
    "relu": lambda L, x: x.relu(),
    "gelu": lambda L, x: L.gelu(x),
    "elu": lambda L, x: L.elu(x),
    "leaky": lambda L, x: L.leaky(x),
    "neg": lambda L, x: -x,
    "abs": lambda L, x: x.abs(),
    "square": lambda L, x: x * x,
    "exp-tanh": lambda L, x: x.tanh().exp(),
    "log1p-sq": lambda L, x: (x * x + 1.0).log(),
    "sqrt": lambda L, x: (x * x + 0.5).sqrt(),
    "cube": lambda L, x: x.tanh() ** 3,
    "affine": lambda L, x: 0.5 * x - 1.25,
}
BINARY = {
    "add": lambda L, a, b: a + b,
    "sub": lambda L, a, b: a - b,
    "mul": lambda L, a, b: a * b,
    "div": lambda L, a, b: a / (b * b + 1.0),
    "maximum": lambda L, a, b: L.maximum(a, b),
    "pow": lambda L, a, b: (a * a + 0.5) ** b.tanh(),
}
MATRIX = {  # on (3, 4) operands, giving (3, 4)
    "matmul-W": lambda L, x, W, b: x @ W,
    "linear": lambda L, x, W, b: L.linear(x, W, b),
    "gram": lambda L, x, W, b: (x @ x.T) @ x * 0.1,
    "softmax": lambda L, x, W, b: x.softmax(1),
    "log_softmax": lambda L, x, W, b: x.log_softmax(-1),
    "sum-keep": lambda L, x, W, b: x - x.sum(axis=1, keepdims=True) * 0.25,
    "mean-keep": lambda L, x, W, b: x * x.mean(axis=0, keepdims=True),
    "amax": lambda L, x, W, b: x - L.amax(x, 1),
    "amin": lambda L, x, W, b: x + L.amin(x, 0),
    "rows": lambda L, x, W, b: L.cat([x[1:], x[:1] * 2.0], 0),
    "getitem": lambda L, x, W, b: x[:, 1:3].sum() * x,
}


def make_program(seed: int):
    """A list of steps (kind, name, operand indices) over a pool that starts with the leaves."""
    rng = np.random.default_rng(seed)
    n_ops = int(rng.integers(5, 16))
    steps = []
    n_values = 3  # A, B (both (3, 4)) and r (4,), which broadcasts against them
    for _ in range(n_ops):
        kind = rng.choice(["unary", "binary", "matrix"], p=[0.35, 0.35, 0.3])
        # Favour recent values (depth) while still reaching back (reuse, diamonds).
        pick = lambda: int(min(n_values - 1, rng.integers(0, n_values) + rng.integers(0, 3)))  # noqa: E731
        if kind == "unary":
            steps.append(("unary", rng.choice(list(UNARY)), (pick(),)))
        elif kind == "binary":
            steps.append(("binary", rng.choice(list(BINARY)), (pick(), pick())))
        else:
            full = [i for i in range(n_values) if i != 2]  # r is 1-D; keep matrix ops on (3,4)
            steps.append(("matrix", rng.choice(list(MATRIX)), (int(rng.choice(full)),)))
        n_values += 1
    weights = rng.standard_normal(n_values)
    return steps, weights


def run_program(L, steps, weights, A, B, r, W, b, labels):
    pool = [A, B, r]
    for kind, name, idx in steps:
        args = [pool[i] for i in idx]
        if kind == "unary":
            out = UNARY[name](L, *args)
        elif kind == "binary":
            out = BINARY[name](L, *args)
        else:
            out = MATRIX[name](L, args[0], W, b)
        if out.shape != (3, 4):  # r-only chains stay (4,); bring them to the common shape
            out = out + A * 0.0 + out * A
        pool.append(out)
    # Every value reaches the loss, each with its own weight; two fused losses join in.
    loss = pool[-1].sum() * 0.0
    for w, v in zip(weights, pool[3:]):
        loss = loss + v.mean() * float(w)
    loss = loss + L.mse(pool[-1], B) + L.ce(pool[-1], labels)
    return loss, pool


LEAVES = ("A", "B", "r", "W", "b")


def program_inputs(seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The leaves (A, B (3, 4), r (4,), W (4, 4), b (4,)) and the labels (3,) of one program."""
    rng = np.random.default_rng(1000 + seed)
    arrays = {
        "A": rng.standard_normal((3, 4)),
        "B": rng.standard_normal((3, 4)),
        "r": rng.standard_normal(4),
        "W": rng.standard_normal((4, 4)) * 0.5,
        "b": rng.standard_normal(4),
    }
    return arrays, rng.integers(0, 4, 3)


@pytest.mark.parametrize("seed", range(30))
def test_random_graph_passes_gradcheck(seed):
    steps, weights = make_program(seed)
    arrays, labels = program_inputs(seed)
    leaves = [dp.tensor(arrays[k], requires_grad=True, dtype=np.float64) for k in LEAVES]

    def loss(*tensors):
        return run_program(LIBS["dp"], steps, weights, *tensors, labels=labels)[0]

    errors = gradcheck_errors(loss, leaves)
    assert max(errors) < 1e-6, dict(zip(LEAVES, errors))


@needs_torch
@pytest.mark.parametrize("seed", range(30))
def test_random_graph_matches_torch(seed):
    steps, weights = make_program(seed)
    arrays, labels = program_inputs(seed)
    d_in = {k: dp.tensor(v, requires_grad=True, dtype=np.float64) for k, v in arrays.items()}
    t_in = {k: torch.tensor(v, requires_grad=True) for k, v in arrays.items()}
    d_loss, d_pool = run_program(LIBS["dp"], steps, weights, **d_in, labels=labels)
    t_loss, t_pool = run_program(
        LIBS["torch"], steps, weights, **t_in, labels=torch.from_numpy(labels)
    )
    assert np.isfinite(d_loss.item())
    for i, (dv, tv) in enumerate(zip(d_pool, t_pool)):
        np.testing.assert_allclose(
            dv.numpy(), tv.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=f"value {i}"
        )
    d_loss.backward()
    t_loss.backward()
    np.testing.assert_allclose(d_loss.item(), t_loss.item(), rtol=1e-10)
    for k in arrays:
        dg, tg = d_in[k].grad, t_in[k].grad
        assert (dg is None) == (tg is None), k
        if tg is not None:
            np.testing.assert_allclose(
                dg.numpy(), tg.numpy(), rtol=1e-10, atol=1e-12, err_msg=f"grad of {k}"
            )


def test_programs_are_varied():
    """The 30 programs together use every op, reuse values and have 5-15 steps."""
    used, reused = set(), 0
    for seed in range(30):
        steps, _ = make_program(seed)
        assert 5 <= len(steps) <= 15
        used.update(name for _, name, _ in steps)
        operands = [i for _, _, idx in steps for i in idx]
        reused += len(operands) - len(set(operands))
    assert used == set(UNARY) | set(BINARY) | set(MATRIX)
    assert reused > 30
