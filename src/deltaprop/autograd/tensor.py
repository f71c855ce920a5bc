"""Tensor: an array, its gradient, and the node that made it.

Methods that need higher modules are attached to the class by those modules when the package
is imported, so this module imports neither (no import cycle): ``backward`` by
:mod:`deltaprop.autograd.engine`, the operators (``+``, ``@``, ``.relu()``, ...) by
:mod:`deltaprop.ops`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from ..errors import ConfigError, GraphError


def _as_array(data: Any, dtype=None):
    """Convert ``data`` to an array of the right dtype without copying when it already fits.

    Floating data gets the default dtype (float32) unless ``dtype`` says otherwise; integer and
    boolean data keep their kind (labels, masks).
    """
    if isinstance(data, Tensor):
        data = data.data
    xp = backend.xp_of(data)
    if dtype is not None:
        return backend.place(xp.asarray(data, dtype=dtype))
    arr = xp.asarray(data)
    if arr.dtype.kind == "f" or arr.dtype.kind == "c":
        target = backend.default_dtype()
        if arr.dtype != target and arr.dtype.kind == "f":
            arr = arr.astype(target)
    elif arr.dtype.kind not in "biu":
        raise ConfigError(f"data: expected numbers, got an array of dtype {arr.dtype}")
    return backend.place(arr)  # host data onto the default device (the host unless set)


class Tensor:
    """An n-dimensional array that remembers how it was computed.

    Attributes:
        data: the NumPy (or CuPy) array.
        grad: a Tensor of the same shape, filled by ``backward()`` (None until then).
        requires_grad: whether gradients flow to this tensor.
        creator: the Function node that produced it (None for leaves and untracked tensors).
    """

    __slots__ = ("data", "grad", "requires_grad", "creator", "name", "__weakref__")
    # NumPy binary operators defer to ours, so ``ndarray * Tensor`` builds a graph node.
    __array_priority__ = 100.0

    def __init__(self, data: Any, requires_grad: bool = False, dtype=None, name: str | None = None):
        self.data = _as_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise ConfigError(
                f"requires_grad: only floating tensors can require gradients, got dtype "
                f"{self.data.dtype}"
            )
        self.grad: Tensor | None = None
        self.requires_grad = bool(requires_grad)
        self.creator = None
        self.name = name

    @classmethod
    def _wrap(cls, array) -> Tensor:
        """Wrap an array with no conversion and no graph (the fast path used by ops)."""
        t = object.__new__(Tensor)
        t.data = array
        t.grad = None
        t.requires_grad = False
        t.creator = None
        t.name = None
        return t

    # --- array-like facts ------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self) -> str:
        return backend.device_of(self.data)

    @property
    def is_leaf(self) -> bool:
        return self.creator is None

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        extra = ", requires_grad=True" if self.requires_grad else ""
        body = np.array2string(backend.to_numpy(self.data), precision=4, separator=", ")
        return f"tensor({body}, dtype={self.data.dtype}{extra})"

    # --- conversion ------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (copied from the GPU if needed)."""
        return backend.to_numpy(self.data)

    def item(self) -> float:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise GraphError(f"item(): expected a tensor with one element, got shape {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self):
        return backend.to_numpy(self.data).tolist()

    def detach(self) -> Tensor:
        """The same values, cut from the graph (shares memory)."""
        return Tensor._wrap(self.data)

    def to(self, device: Any) -> Tensor:
        """A copy on ``"cpu"``, ``"cuda"`` or a :func:`deltaprop.device` (the same tensor when
        already there)."""
        moved = backend.to_device(self.data, device)
        if moved is self.data:
            return self
        out = Tensor._wrap(moved)
        out.requires_grad = self.requires_grad
        return out

    def astype(self, dtype) -> Tensor:
        """A copy of the values in another dtype, cut from the graph."""
        return Tensor(self.data.astype(dtype), requires_grad=self.requires_grad)

    def requires_grad_(self, flag: bool = True) -> Tensor:
        if flag and self.data.dtype.kind != "f":
            raise ConfigError(f"requires_grad: needs a floating tensor, got {self.data.dtype}")
        self.requires_grad = bool(flag)
        return self

    def zero_grad(self) -> None:
        self.grad = None

    # ``backward(grad=None, retain_graph=False)`` is attached by autograd/engine.py, which
    # imports this module: the engine sits above Tensor, so Tensor never imports it.


def tensor(data: Any, requires_grad: bool = False, dtype=None) -> Tensor:
    """Make a Tensor: float32 for floating data unless ``dtype`` says otherwise.

    >>> x = tensor([[1.0, 2.0]], requires_grad=True)   # shape (1, 2), float32
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def as_tensor(value: Any, like: Tensor | None = None) -> Tensor:
    """Return ``value`` as a Tensor; plain numbers take the dtype of ``like`` (no up-casting)."""
    if isinstance(value, Tensor):
        return value
    if like is not None:
        xp = backend.xp_of(like.data)
        if isinstance(value, (int, float, bool, np.number)):
            return Tensor._wrap(xp.asarray(value, dtype=like.data.dtype))
        arr = xp.asarray(value)
        # Constants take the tensor's float dtype so float32 graphs stay float32.
        if like.data.dtype.kind == "f" and arr.dtype.kind in "fiub":
            arr = arr.astype(like.data.dtype, copy=False)
        return Tensor._wrap(arr)
    return Tensor(value)
