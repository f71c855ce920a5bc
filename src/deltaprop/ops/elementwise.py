"""Elementwise arithmetic and math: + - * / ** neg exp log sqrt abs clip maximum minimum where.

Binary ops broadcast like NumPy; their backward returns full-shape gradients and the engine sums
them back to each input's shape (one unbroadcast for every op).
"""

from __future__ import annotations

from ..autograd.function import Function
from ..autograd.tensor import Tensor, as_tensor
from ..backend import xp_of


class Add(Function):
    __slots__ = ()

    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        return gy, gy


class Sub(Function):
    __slots__ = ()

    def forward(self, a, b):
        return a - b

    def backward(self, gy):
        return gy, (-gy if self.needs[1] else None)


class Mul(Function):
    __slots__ = ()

    def forward(self, a, b):
        # Each input's gradient needs only the *other* input.
        self.save(b if self.needs[0] else None, a if self.needs[1] else None)
        return a * b

    def backward(self, gy):
        b, a = self.saved
        return (gy * b if b is not None else None), (gy * a if a is not None else None)


class Div(Function):
    __slots__ = ()

    def forward(self, a, b):
        y = a / b
        self.save(b, y if self.needs[1] else None)
        return y

    def backward(self, gy):
        b, y = self.saved
        ga = gy / b
        # d(a/b)/db = -a/b^2 = -y/b
        gb = -ga * y if self.needs[1] else None
        return (ga if self.needs[0] else None), gb


class PowScalar(Function):
    """x ** c for a constant exponent c: d/dx = c x^(c-1)."""

    __slots__ = ("c",)

    def forward(self, x):
        if self.needs[0]:
            self.save(x)
        return x**self.c

    def backward(self, gy):
        (x,) = self.saved
        return gy * (self.c * x ** (self.c - 1))


class Pow(Function):
    """a ** b with both tensors: d/da = b a^(b-1), d/db = a^b log a (a > 0 where used)."""

    __slots__ = ()

    def forward(self, a, b):
        y = a**b
        self.save(a, b, y)
        return y

    def backward(self, gy):
        a, b, y = self.saved
        ga = gy * b * a ** (b - 1) if self.needs[0] else None
        gb = None
        if self.needs[1]:
            xp = xp_of(a)
            safe = xp.where(a > 0, a, 1)  # log a only where a > 0; 0 elsewhere, as torch does
            gb = gy * y * xp.log(safe)
        return ga, gb


class Neg(Function):
    __slots__ = ()

    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class Exp(Function):
    __slots__ = ()

    def forward(self, x):
        y = xp_of(x).exp(x)
        self.save(y)  # d exp(x) = exp(x): keep the output, not the input
        return y

    def backward(self, gy):
        return gy * self.saved[0]


class Log(Function):
    __slots__ = ()

    def forward(self, x):
        self.save(x)
        return xp_of(x).log(x)

    def backward(self, gy):
        return gy / self.saved[0]


class Sqrt(Function):
    __slots__ = ()

    def forward(self, x):
        y = xp_of(x).sqrt(x)
        self.save(y)
        return y

    def backward(self, gy):
        return gy / (2 * self.saved[0])


class Abs(Function):
    __slots__ = ()

    def forward(self, x):
        xp = xp_of(x)
        self.save(xp.sign(x))  # subgradient 0 at 0, as torch
        return xp.abs(x)

    def backward(self, gy):
        return gy * self.saved[0]


class Clip(Function):
    __slots__ = ("lo", "hi")

    def forward(self, x):
        xp = xp_of(x)
        y = xp.clip(x, self.lo, self.hi)
        if self.needs[0]:
            mask = xp.ones(x.shape, dtype=bool)
            if self.lo is not None:
                mask &= x >= self.lo
            if self.hi is not None:
                mask &= x <= self.hi
            self.save(mask)
        return y

    def backward(self, gy):
        return gy * self.saved[0]


class Maximum(Function):
    """Elementwise max; at ties each input gets half of the gradient (as torch.maximum)."""

    __slots__ = ("take_min",)

    def forward(self, a, b):
        xp = xp_of(a)
        if self.take_min:
            y = xp.minimum(a, b)
            wa = (a < b) + 0.5 * (a == b)
        else:
            y = xp.maximum(a, b)
            wa = (a > b) + 0.5 * (a == b)
        self.save(wa.astype(y.dtype))
        return y

    def backward(self, gy):
        (wa,) = self.saved
        ga = gy * wa if self.needs[0] else None
        gb = gy * (1 - wa) if self.needs[1] else None
        return ga, gb


class Where(Function):
    """cond ? a : b, with ``cond`` a boolean array (no gradient)."""

    __slots__ = ("cond",)

    def forward(self, a, b):
        return xp_of(a).where(self.cond, a, b)

    def backward(self, gy):
        xp = xp_of(gy)
        zero = xp.zeros((), dtype=gy.dtype)
        ga = xp.where(self.cond, gy, zero) if self.needs[0] else None
        gb = xp.where(self.cond, zero, gy) if self.needs[1] else None
        return ga, gb


# --- functions -----------------------------------------------------------------------------


def _pair(a, b) -> tuple[Tensor, Tensor]:
    if isinstance(a, Tensor):
        return a, as_tensor(b, like=a)
    b = as_tensor(b)
    return as_tensor(a, like=b), b


def add(a, b) -> Tensor:
    """a + b, broadcasting."""
    return Add.apply(*_pair(a, b))


def sub(a, b) -> Tensor:
    """a - b, broadcasting."""
    return Sub.apply(*_pair(a, b))


def mul(a, b) -> Tensor:
    """a * b, broadcasting."""
    return Mul.apply(*_pair(a, b))


def div(a, b) -> Tensor:
    """a / b, broadcasting."""
    return Div.apply(*_pair(a, b))


def pow(a, b) -> Tensor:  # noqa: A001 - mirrors the operator
    """a ** b; a constant exponent uses the cheaper rule c x^(c-1)."""
    if isinstance(a, Tensor) and not isinstance(b, Tensor):
        return PowScalar.apply(a, c=b)
    return Pow.apply(*_pair(a, b))


def neg(x: Tensor) -> Tensor:
    return Neg.apply(x)


def exp(x: Tensor) -> Tensor:
    return Exp.apply(as_tensor(x))


def log(x: Tensor) -> Tensor:
    """Natural logarithm."""
    return Log.apply(as_tensor(x))


def sqrt(x: Tensor) -> Tensor:
    return Sqrt.apply(as_tensor(x))


def abs(x: Tensor) -> Tensor:  # noqa: A001 - mirrors numpy
    return Abs.apply(as_tensor(x))


def clip(x: Tensor, lo=None, hi=None) -> Tensor:
    """Limit values to [lo, hi]; the gradient is zero where clipped."""
    return Clip.apply(as_tensor(x), lo=lo, hi=hi)


def maximum(a, b) -> Tensor:
    return Maximum.apply(*_pair(a, b), take_min=False)


def minimum(a, b) -> Tensor:
    return Maximum.apply(*_pair(a, b), take_min=True)


def where(cond, a, b) -> Tensor:
    """Elementwise ``a`` where ``cond`` else ``b``; ``cond`` is a boolean array or Tensor."""
    a, b = _pair(a, b)
    c = cond.data if isinstance(cond, Tensor) else xp_of(a.data).asarray(cond)
    return Where.apply(a, b, cond=c.astype(bool, copy=False))
