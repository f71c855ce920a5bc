"""Reverse-mode backward: an iterative walk over the graph, one gradient table.

Memoization is the whole method: each node's output gradient is summed once from every consumer
(the table), then its backward runs exactly once and hands gradients to its parents. Nodes are
visited by falling rank (Chainer's scheme): a node's rank exceeds every parent's, so when a node
comes off the heap every consumer has already contributed. No recursion, no visited set.
"""

from __future__ import annotations

import heapq
from typing import Any

import numpy as np

from ..backend import xp_of
from ..config import state as _state
from ..errors import GraphError, ShapeError
from .function import Function, check_finite
from .tensor import Tensor


def unbroadcast(grad, shape: tuple[int, ...], op: str = "op"):
    """Sum ``grad`` down to ``shape``: undo NumPy broadcasting in one place for every op.

    (2, 3, 4) -> (3, 1): sum axis 0 (leading), then axis 2 with keepdims.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra < 0:
        raise ShapeError(f"{op} backward: gradient of shape {grad.shape} for an input of {shape}")
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    if grad.shape != shape:
        raise ShapeError(f"{op} backward: gradient of shape {grad.shape} for an input of {shape}")
    return grad


def _store_leaf_grad(leaf: Tensor, g, incoming) -> None:
    """Add ``g`` into ``leaf.grad``. The stored array must be owned by the leaf: a gradient that
    is a view, the node's incoming one, or read-only may be shared, so it is copied first;
    later additions are then safely in place."""
    current = leaf.grad
    if current is None:
        if g.base is not None or g is incoming or not g.flags.writeable:
            g = g.copy()
        if g.dtype != leaf.data.dtype:
            g = g.astype(leaf.data.dtype)
        leaf.grad = Tensor._wrap(g)
    else:
        current.data += g


_ONES: dict = {}


def _seed(root: Tensor):
    """d root / d root = 1. For the usual 0-D loss, one cached read-only array per dtype."""
    data = root.data
    if data.ndim == 0 and type(data) is np.ndarray:
        one = _ONES.get(data.dtype)
        if one is None:
            one = np.ones((), dtype=data.dtype)
            one.flags.writeable = False
            _ONES[data.dtype] = one
        return one
    return xp_of(data).ones(data.shape, dtype=data.dtype)


def backward(root: Tensor, grad: Any = None, retain_graph: bool = False) -> None:
    """Fill ``.grad`` of every leaf that ``root`` depends on and that requires a gradient.

    Also ``root.backward(grad, retain_graph)``: this very function is Tensor's method.

    Args:
        root: the tensor to differentiate, of any shape S.
        grad: the upstream gradient d(something)/d root, shape S (a Tensor or an array);
            defaults to 1 when ``root`` has one element (a loss).
        retain_graph: keep the saved arrays, so that backward can run through the graph again.
    """
    if not root.requires_grad:
        raise GraphError(
            "backward(): the tensor does not require grad (no input had requires_grad=True, "
            "or it was computed under no_grad)"
        )
    if grad is None:
        if root.data.size != 1:
            raise GraphError(
                f"backward(): grad can be omitted only for a one-element tensor, got shape "
                f"{root.shape}; pass grad= of that shape"
            )
        g = _seed(root)
    else:
        xp = xp_of(root.data)
        g = grad.data if isinstance(grad, Tensor) else xp.asarray(grad, dtype=root.data.dtype)
        if g.shape != root.shape:
            raise ShapeError(f"backward(): grad must have shape {root.shape}, got {g.shape}")

    fn = root.creator
    if fn is None:  # a leaf: its gradient is the seed itself
        _store_leaf_grad(root, g, g)
        return

    debug = _state.debug
    table = {fn: g}
    # Heap entries (-rank, id, node): the id breaks rank ties without comparing nodes.
    heap = [(-fn.rank, id(fn), fn)]
    push, pop = heapq.heappush, heapq.heappop
    while heap:
        fn = pop(heap)[2]
        gy = table.pop(fn)
        if fn.saved is None:
            raise GraphError(
                f"backward through {type(fn).__name__} a second time: its saved arrays were "
                "freed; call backward(retain_graph=True) the first time"
            )
        grads = fn.backward(gy)
        if not retain_graph:
            fn.saved = None
        if type(grads) is not tuple:
            grads = (grads,)
        for parent, gx in zip(fn.parents, grads):
            if parent is None or gx is None:
                continue
            if isinstance(parent, Function):
                if gx.shape != parent.shape:
                    gx = unbroadcast(gx, parent.shape, type(fn).__name__)
                if debug:
                    check_finite(gx, f"gradient from {type(fn).__name__}")
                prev = table.get(parent)
                if prev is None:
                    table[parent] = gx
                    push(heap, (-parent.rank, id(parent), parent))
                else:
                    table[parent] = prev + gx
            else:  # a leaf tensor
                if gx.shape != parent.data.shape:
                    gx = unbroadcast(gx, parent.data.shape, type(fn).__name__)
                if debug:
                    check_finite(gx, f"gradient from {type(fn).__name__}")
                _store_leaf_grad(parent, gx, gy)


# The method is this function itself (no wrapper: backward runs on every training step).
# Attached here, like the operators in ops/__init__.py, because tensor.py sits below the engine.
Tensor.backward = backward

__all__ = ["backward", "unbroadcast", "Function"]
