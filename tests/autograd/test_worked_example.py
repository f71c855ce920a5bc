"""One step of backprop worked out by hand, asserted exactly.

    x = [[1, 2],     W = [[1.0, -1],    b = [0, 0.5]    t = [[1, 0],
         [3, -1]]         [0.5,  1]]                         [2, 1]]

Forward:
    z = x W + b   = [[1 + 1, -1 + 2], [3 - 0.5, -3 - 1]] + b  = [[2, 1.5], [2.5, -3.5]]
    y = relu(z)   = [[2, 1.5], [2.5, 0]]
    d = y - t     = [[1, 1.5], [0.5, -1]]
    L = mean(d^2) = (1 + 2.25 + 0.25 + 1) / 4               = 1.125

Backward (each line reuses the one above: that reuse is the whole method):
    dL/dy = 2 d / 4           = [[0.5, 0.75], [0.25, -0.5]]
    dL/dt = -dL/dy            = [[-0.5, -0.75], [-0.25, 0.5]]
    dL/dz = dL/dy * (z > 0)   = [[0.5, 0.75], [0.25, 0]]      (z[1,1] = -3.5 is cut by relu)
    dL/dW = x^T dL/dz         = [[1*0.5 + 3*0.25, 1*0.75 + 3*0], [2*0.5 - 1*0.25, 2*0.75 - 0]]
                              = [[1.25, 0.75], [0.75, 1.5]]
    dL/db = column sums       = [0.75, 0.75]
    dL/dx = dL/dz W^T         = [[0.5 - 0.75, 0.25 + 0.75], [0.25, 0.125]]
                              = [[-0.25, 1.0], [0.25, 0.125]]

Every number is a short binary fraction, so float32 and float64 both get them exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
import deltaprop.ops as DP

X = [[1.0, 2.0], [3.0, -1.0]]
W = [[1.0, -1.0], [0.5, 1.0]]
B = [0.0, 0.5]
T = [[1.0, 0.0], [2.0, 1.0]]


def _forward_unfused(x, w, b, t):
    y = (x @ w + b).relu()
    return ((y - t) ** 2).mean()


def _forward_fused(x, w, b, t):
    return DP.mse_loss(DP.linear(x, w, b).relu(), t)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("forward", [_forward_unfused, _forward_fused])
def test_worked_example(forward, dtype):
    x, w, b, t = (dp.tensor(v, requires_grad=True, dtype=dtype) for v in (X, W, B, T))
    loss = forward(x, w, b, t)
    assert loss.item() == 1.125
    loss.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [[1.25, 0.75], [0.75, 1.5]])
    np.testing.assert_array_equal(b.grad.numpy(), [0.75, 0.75])
    np.testing.assert_array_equal(x.grad.numpy(), [[-0.25, 1.0], [0.25, 0.125]])
    np.testing.assert_array_equal(t.grad.numpy(), [[-0.5, -0.75], [-0.25, 0.5]])
    for g in (w.grad, b.grad, x.grad, t.grad):
        assert g.dtype == dtype
