"""The gradient checker itself: it passes correct rules, catches wrong ones, refuses float32."""

from __future__ import annotations

import math

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.autograd import Function, gradcheck_errors
from deltaprop.errors import ConfigError


class WrongSquare(Function):
    """x^2 with a deliberately wrong derivative (x instead of 2x)."""

    __slots__ = ()

    def forward(self, x):
        self.save(x)
        return x * x

    def backward(self, gy):
        return gy * self.saved[0]


class RightSquare(WrongSquare):
    __slots__ = ()

    def backward(self, gy):
        return gy * 2 * self.saved[0]


class WrongSecondInput(Function):
    """a * b whose gradient for b is off by 1%."""

    __slots__ = ()

    def forward(self, a, b):
        self.save(a, b)
        return a * b

    def backward(self, gy):
        a, b = self.saved
        return gy * b, gy * a * 1.01


def x64(shape=(2, 3), seed=0, requires_grad=True):
    values = np.random.default_rng(seed).standard_normal(shape)
    return dp.tensor(values, requires_grad=requires_grad, dtype=np.float64)


def test_passes_a_correct_backward():
    assert dp.gradcheck(RightSquare.apply, [x64()]) is True
    assert gradcheck_errors(RightSquare.apply, [x64()])[0] < 1e-8


def test_raises_on_a_wrong_backward():
    with pytest.raises(dp.GradcheckError, match=r"input 0 has relative error"):
        dp.gradcheck(WrongSquare.apply, [x64()])
    assert gradcheck_errors(WrongSquare.apply, [x64()])[0] > 0.1


def test_names_the_wrong_input():
    a, b = x64(seed=1), x64(seed=2)
    errors = gradcheck_errors(WrongSecondInput.apply, [a, b])
    assert errors[0] < 1e-8 and errors[1] > 1e-3
    with pytest.raises(dp.GradcheckError, match="input 1"):
        dp.gradcheck(WrongSecondInput.apply, [a, b])
    # A looser tolerance accepts it: the tolerance is what is being compared with.
    assert dp.gradcheck(WrongSecondInput.apply, [a, b], tol=0.05)


def test_gradcheck_error_is_an_assertion_error():
    assert issubclass(dp.GradcheckError, AssertionError)
    assert issubclass(dp.GradcheckError, dp.DeltapropError)


def test_refuses_float32_inputs():
    x = dp.tensor(np.ones(3), requires_grad=True)  # float32 by default
    with pytest.raises(ConfigError, match=r"inputs\[0\].*float64.*float32"):
        dp.gradcheck(lambda t: t * t, [x])


def test_float32_constants_are_allowed_and_skipped():
    x, c = x64(), dp.tensor(np.ones((2, 3)))  # c: float32, no gradient wanted
    errors = gradcheck_errors(lambda a, b: a * b.astype(np.float64), [x, c])
    assert errors[0] < 1e-8 and math.isnan(errors[1])


def test_refuses_non_tensors_and_non_tensor_outputs():
    with pytest.raises(ConfigError, match=r"inputs\[0\]: expected a Tensor"):
        dp.gradcheck(lambda t: t, [np.ones(3)])
    with pytest.raises(ConfigError, match="fn: expected it to return a Tensor"):
        dp.gradcheck(lambda t: 3.0, [x64()])


def test_leaves_inputs_unchanged():
    x = x64()
    before = x.numpy().copy()
    dp.gradcheck(lambda t: (t * t).exp().sum(), [x])
    np.testing.assert_array_equal(x.numpy(), before)


def test_unused_input_has_zero_error():
    x, y = x64(seed=1), x64(seed=2)
    errors = gradcheck_errors(lambda a, b: a * 2.0, [x, y])
    assert errors == [pytest.approx(0.0, abs=1e-8), 0.0]


# Inputs whose array is not one contiguous block. reshape(-1) copies those, so a checker that
# perturbs through it moves a copy that fn never reads: numeric gradient 0, error 1.
def _base(shape=(3, 4), seed=3):
    return np.random.default_rng(seed).standard_normal(shape)


NON_CONTIGUOUS = {
    "transposed": lambda: _base().T,
    "strided slice": lambda: _base((3, 8))[:, ::3],
    "sliced columns": lambda: _base((3, 5))[:, 1:],
    "3-D transposed": lambda: _base((2, 3, 2)).transpose(1, 0, 2),
    "broadcast (read-only)": lambda: np.broadcast_to(_base((1, 4)), (3, 4)),
}


@pytest.mark.parametrize("make", NON_CONTIGUOUS.values(), ids=list(NON_CONTIGUOUS))
def test_non_contiguous_inputs_are_checked(make):
    array = make()
    assert not array.flags.c_contiguous
    x = dp.tensor(array, requires_grad=True, dtype=np.float64)
    assert x.data.base is not None  # the tensor really holds the view, not a fresh copy
    before = x.data
    assert gradcheck_errors(RightSquare.apply, [x])[0] < 1e-8
    assert gradcheck_errors(lambda t: (t * t).exp().sum(axis=0), [x])[0] < 1e-6
    assert gradcheck_errors(WrongSquare.apply, [x])[0] > 0.1
    assert x.data is before  # the caller's array is back in place, values untouched
    np.testing.assert_array_equal(x.numpy(), array)


def test_input_is_restored_when_fn_fails_midway():
    x = x64()
    before, values = x.data, x.numpy().copy()
    calls = []

    def fn(t):
        calls.append(1)
        if len(calls) > 3:  # the analytic pass and a step or so of the numeric one succeed
            raise RuntimeError("boom")
        return t * t

    with pytest.raises(RuntimeError, match="boom"):
        gradcheck_errors(fn, [x])
    assert x.data is before
    np.testing.assert_array_equal(x.numpy(), values)
