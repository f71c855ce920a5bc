"""The optimizers' shared scratch: one buffer for every parameter, no allocation per step, and
the gradient left as backward made it."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import optim
from deltaprop.optim.scratch import Scratch


def test_views_of_one_buffer_sized_to_the_largest():
    s = Scratch()
    small, big = np.zeros((3, 4), np.float32), np.zeros((50, 20), np.float32)
    a = s.get(small)
    assert a.shape == (3, 4) and a.dtype == np.float32
    b = s.get(big)  # larger: a new buffer, the old views dropped
    assert b.shape == (50, 20)
    a2 = s.get(small)
    assert np.shares_memory(a2, b)  # both views of the one buffer
    assert s.get(small) is a2  # cached per shape
    assert not np.shares_memory(s.get(small, 1), b)  # a second slot is a second buffer
    assert s.get(small.astype(np.float64)).dtype == np.float64


OPTIMIZERS = {
    "sgd": lambda p: optim.SGD(p, lr=0.1),
    "momentum_l2": lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1),
    "adam_l2": lambda p: optim.Adam(p, lr=0.1, weight_decay=0.1),
    "rmsprop": lambda p: optim.RMSprop(p, lr=0.1, centered=True, momentum=0.5),
    "adagrad": lambda p: optim.Adagrad(p, lr=0.1),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_a_step_allocates_no_parameter_sized_array(name):
    dp.seed(0)
    w = dp.Tensor(np.ones((500, 500), np.float32), requires_grad=True)  # 1 MB
    b = dp.Tensor(np.ones(500, np.float32), requires_grad=True)
    opt = OPTIMIZERS[name]([w, b])
    grads = (np.full((500, 500), 0.5, np.float32), np.full(500, 0.5, np.float32))
    for p, g in zip((w, b), grads):
        p.grad = dp.Tensor(g.copy())
    opt.step()  # the first step makes the state and the scratch
    tracemalloc.start()
    try:
        opt.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 200_000, peak  # far below one 1 MB temporary
    np.testing.assert_array_equal(w.grad.data, grads[0])  # the rule never wrote the gradient
