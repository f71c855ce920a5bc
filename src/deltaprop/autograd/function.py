"""Function: one node of the graph, and the memo of what its backward needs.

A subclass writes ``forward(self, *arrays) -> array`` and ``backward(self, gy) -> grads`` (one
gradient per input, or None where ``self.needs[i]`` is False). In forward it calls
``self.save(...)`` with exactly what backward will read, and nothing else; the engine drops it
once backward has run (unless ``retain_graph=True``).
"""

from __future__ import annotations

from ..backend import xp_of
from ..config import state as _state
from ..errors import GraphError
from .tensor import Tensor


class Function:
    """Base class of differentiable operations.

    Slots (set by :meth:`apply`):
        needs:   per input, whether a gradient must flow to it (read it in forward to skip saving
                 what only an unneeded gradient would use). A sequence of bools.
        parents: per input, the Function that made it, the leaf Tensor itself, or None when no
                 gradient flows there. Input *tensors* are not kept, so their arrays can be freed.
        saved:   the tuple given to :meth:`save`; None once backward has freed it.
        shape:   shape of the output (the gradient arriving here must have it).
        rank:    1 + the largest rank among parents; the engine processes nodes by falling rank.
    """

    __slots__ = ("needs", "parents", "saved", "shape", "rank")

    def save(self, *arrays) -> None:
        self.saved = arrays

    def forward(self, *arrays):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, gy):  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def name(self) -> str:
        return type(self).__name__

    @classmethod
    def apply(cls, *inputs: Tensor, **attrs) -> Tensor:
        """Run forward on the inputs' arrays and, if any input needs a gradient, record the node.

        ``attrs`` are set as attributes (declared in the subclass's ``__slots__``) before
        forward runs, e.g. ``Sum.apply(x, axis=1, keepdims=False)``.
        """
        # This runs once per op, so it is written for speed: one pass over the inputs, no
        # helper calls, and no graph bookkeeping at all when nothing needs a gradient.
        fn = object.__new__(cls)
        if attrs:
            for key, value in attrs.items():
                setattr(fn, key, value)
        fn.saved = ()
        out = object.__new__(Tensor)
        out.grad = None
        out.name = None
        record = False
        if _state.grad_enabled:
            needs = []
            parents = []
            rank = 0
            for t in inputs:
                if t.requires_grad:
                    record = True
                    needs.append(True)
                    c = t.creator
                    if c is None:
                        parents.append(t)
                    else:
                        parents.append(c)
                        if c.rank > rank:
                            rank = c.rank
                else:
                    needs.append(False)
                    parents.append(None)
        if record:
            fn.needs = needs
            fn.parents = parents
            fn.rank = rank + 1
            out.requires_grad = True
            out.creator = fn
        else:
            fn.needs = _NO_NEEDS[len(inputs)] if len(inputs) < 4 else (False,) * len(inputs)
            out.requires_grad = False
            out.creator = None
        if len(inputs) == 1:
            y = fn.forward(inputs[0].data)
        elif len(inputs) == 2:
            y = fn.forward(inputs[0].data, inputs[1].data)
        else:
            y = fn.forward(*[t.data for t in inputs])
        out.data = y
        if record:
            fn.shape = y.shape
        if _state.debug:
            check_finite(y, f"{cls.__name__} forward output")
        return out


_NO_NEEDS = [(), (False,), (False, False), (False, False, False)]


def check_finite(array, what: str) -> None:
    """Debug mode's check of one array (an op's output or gradient): raise GraphError naming
    ``what`` if a floating array holds NaN or Inf."""
    xp = xp_of(array)
    if array.dtype.kind == "f" and not bool(xp.isfinite(array).all()):
        bad = int((~xp.isfinite(array)).sum())
        raise GraphError(f"debug mode: {what} has {bad} non-finite value(s) (NaN/Inf)")
