"""The dense layer's input gradient dx = g W^T, computed as (W g^T)^T where OpenBLAS runs that
faster (:func:`deltaprop.ops.linalg.dx_by_transpose`): the same numbers, in rows, and the rule
itself."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.ops.linalg import dx_by_transpose

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)


@pytest.mark.parametrize(
    "n, k, m, dtype, expected",
    [
        (8, 256, 256, F32, True),  # the narrowest layer, the fewest rows
        (32, 784, 256, F32, True),
        (128, 1024, 1024, F32, True),  # a rank's shard in benchmarks/dist.py
        (129, 1024, 1024, F32, False),  # over an eighth of the width
        (7, 1024, 1024, F32, False),  # too few rows: no faster
        (16, 1024, 128, F32, False),  # a narrow side
        (16, 255, 1024, F32, False),
        (32, 1024, 1024, F64, False),  # float64 (the gradient checks) never switches
    ],
)
def test_the_rule(n, k, m, dtype, expected):
    assert dx_by_transpose(n, k, m, dtype) is expected


@pytest.mark.parametrize("n", [4, 16, 37, 64])
def test_eager_dx_is_the_plain_product_in_rows(n):
    rng = np.random.default_rng(n)
    x = dp.Tensor(rng.standard_normal((n, 300)).astype(np.float32), requires_grad=True)
    layer = dp.nn.Linear(300, 512)
    g = rng.standard_normal((n, 512)).astype(np.float32)
    (layer(x) * dp.Tensor(g)).sum().backward()
    assert x.grad.data.flags.c_contiguous and x.grad.data.dtype == np.float32
    # the same sums bit for bit whichever form ran (float32 on OpenBLAS)
    np.testing.assert_array_equal(x.grad.data, g.dot(layer.weight.data.T))
    assert dx_by_transpose(n, 300, 512, F32) is (8 <= n <= 300 // 8)
