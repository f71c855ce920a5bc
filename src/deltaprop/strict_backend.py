"""The strict host backend: an array library over NumPy that behaves like CuPy where it
matters, for testing the GPU path on machines without a GPU.

Its arrays (:class:`StrictArray`) report the device ``"strict"`` and, like CuPy's, refuse to
become NumPy arrays behind the user's back: ``np.asarray(a)`` raises TypeError, and so does
any operation that mixes them with a NumPy array (``a + host``, ``xp.maximum(a, host)``).
NumPy functions called on them (``np.sum(a)``) dispatch to this backend, as they do to CuPy
(``__array_function__``/``__array_ufunc__``). The explicit ways across are the same as
CuPy's: ``xp.asarray(host)`` onto the device, ``a.get()`` (:func:`deltaprop.backend.to_numpy`)
back; Python scalars come back with ``float(a)``/``a.item()`` as CuPy allows.

Every refusal is also recorded in :data:`VIOLATIONS`, so a test fails even when the code
path that fell back to NumPy caught the TypeError and went on.
"""

from __future__ import annotations

import os
import sys
import types
from typing import Any

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

#: (where, what) of every refused implicit conversion since the last clear().
VIOLATIONS: list[str] = []
DEVICE = "strict"
_SELF = os.path.abspath(__file__)


#: When True, only deltaprop's own code is held to the rules: a test that compares a result
#: with ``np.testing`` may convert it (the tests of :mod:`tests.backend` set it).
LIBRARY_ONLY = False
_HERE = os.path.dirname(os.path.abspath(__file__))
_NUMPY = os.path.dirname(np.__file__)


def _from_library() -> bool:
    """Whether the first caller outside this module and NumPy is deltaprop's code."""
    frame = sys._getframe(2)
    while frame is not None:
        name = os.path.abspath(frame.f_code.co_filename)
        if name != __file__ and not name.startswith(_NUMPY) and name != _SELF:
            return name.startswith(_HERE + os.sep)
        frame = frame.f_back
    return False


def _allowed() -> bool:
    return LIBRARY_ONLY and not _from_library()


def _refuse(what: str) -> TypeError:
    message = (
        f"strict backend: {what}; a StrictArray never becomes a NumPy array implicitly (as a "
        "CuPy array does not): use xp.asarray(...) to move data onto the device and "
        "backend.to_numpy(...) to bring it back"
    )
    VIOLATIONS.append(message)
    return TypeError(message)


def _unwrap(value: Any, where: str) -> Any:
    """StrictArrays -> their host arrays (inside this backend); NumPy arrays are refused."""
    if isinstance(value, StrictArray):
        return value._a
    if isinstance(value, np.ndarray):
        if _allowed():
            return value
        raise _refuse(f"{where} got a NumPy array of shape {value.shape}")
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v, where) for v in value)
    if isinstance(value, dict):  # keyword arguments: out=, where=
        return {k: _unwrap(v, where) for k, v in value.items()}
    return value


def _wrap(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return StrictArray(value)
    if isinstance(value, np.generic):  # a reduction's result stays on the device, as in CuPy
        return StrictArray(np.asarray(value))
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


class StrictArray(NDArrayOperatorsMixin):
    """An array on the ``"strict"`` device (a NumPy array inside, never handed out)."""

    __slots__ = ("_a",)
    __array_priority__ = 200.0  # above Tensor's: np.ndarray ops defer to us, and we refuse

    def __init__(self, array: np.ndarray) -> None:
        self._a = array

    # the refusals -------------------------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        if _allowed():
            return self._a if dtype is None else self._a.astype(dtype, copy=False)
        raise _refuse(f"np.asarray() (or another implicit conversion) of shape {self.shape}")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        where = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
        outs = kwargs.get("out")
        if outs is not None:
            kwargs["out"] = _unwrap(outs, where)
        if method == "at":  # (a, indices, b): indices may be NumPy, as in __getitem__
            a, index, *rest = inputs
            args = (_unwrap(a, where), _index(index), *_unwrap(tuple(rest), where))
        else:
            args = _unwrap(inputs, where)
        result = getattr(ufunc, method)(*args, **kwargs)
        if outs is not None and method != "at":
            return outs[0] if len(outs) == 1 else outs
        return _wrap(result)

    def __array_function__(self, func, types_, args, kwargs):
        where = f"np.{func.__name__}"
        return _wrap(func(*_unwrap(args, where), **_unwrap(kwargs, where)))

    # what CuPy's arrays have ----------------------------------------------------------------
    @property
    def device(self) -> str:
        return DEVICE

    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: StrictArray(self._a.T))

    def get(self) -> np.ndarray:
        """The explicit copy to the host (CuPy's ``get``)."""
        return self._a.copy()

    def __getitem__(self, key):
        return _wrap(self._a[_index(key)])

    def __setitem__(self, key, value) -> None:
        self._a[_index(key)] = _unwrap(value, "item assignment")

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self):
        return (_wrap(v) for v in self._a)

    def __float__(self) -> float:
        return float(self._a)

    def __int__(self) -> int:
        return int(self._a)

    def __bool__(self) -> bool:
        return bool(self._a)

    def __index__(self) -> int:
        return self._a.__index__()

    def __repr__(self) -> str:
        return f"StrictArray({self._a!r})"

    def __getattr__(self, name: str):
        # methods (sum, reshape, astype, argmax, ...) run on the inside, results wrapped;
        # never the protocols (__array_interface__, buffers) that would hand the inside out
        if name.startswith("__") or name in ("ctypes", "data", "flat", "tobytes"):
            raise AttributeError(f"StrictArray has no {name!r} (it stays on its device)")
        attr = getattr(self._a, name)
        if not callable(attr):
            return _wrap(attr)

        def method(*args, **kwargs):
            where = f"ndarray.{name}"
            return _wrap(attr(*_unwrap(args, where), **_unwrap(kwargs, where)))

        return method

    def __copy__(self):
        return StrictArray(self._a.copy())

    def __deepcopy__(self, memo):
        return StrictArray(self._a.copy())


def _index(key: Any) -> Any:
    # Index arrays may be NumPy arrays: CuPy accepts them too (they are indices, not data).
    if isinstance(key, StrictArray):
        return key._a
    if isinstance(key, tuple):
        return tuple(k._a if isinstance(k, StrictArray) else k for k in key)
    return key


# --- the namespace (what ``xp`` is for a StrictArray) ----------------------------------------
_TRANSFER = {"asarray", "array", "ascontiguousarray", "asanyarray"}


class _Namespace(types.SimpleNamespace):
    """``xp`` for StrictArrays: NumPy's names, with arrays in and out kept on the device."""

    def __init__(self, module: Any, prefix: str) -> None:
        super().__init__()
        self._module = module
        self._prefix = prefix

    def __getattr__(self, name: str):
        attr = getattr(self._module, name)
        where = f"{self._prefix}.{name}"
        if isinstance(attr, types.ModuleType):
            return _Namespace(attr, where)
        if name == "ndarray":
            return StrictArray
        if isinstance(attr, type) or not callable(attr):
            return attr  # dtypes, constants, finfo, errstate...
        if name in _TRANSFER:

            def transfer(obj, *args, **kwargs):
                if isinstance(obj, StrictArray):
                    return StrictArray(attr(obj._a, *args, **kwargs))
                # host data: a copy on the device, as cupy.asarray makes one; a view would let
                # the device array change the host buffer it came from (a shared window's)
                return StrictArray(np.array(attr(obj, *args, **kwargs), copy=True))

            return transfer
        if isinstance(attr, np.ufunc):
            return attr  # dispatches to StrictArray.__array_ufunc__; refuses NumPy inputs

        def function(*args, **kwargs):
            return _wrap(attr(*_unwrap(args, where), **_unwrap(kwargs, where)))

        return function


xp = _Namespace(np, "xp")


def asarray(array: Any, dtype=None) -> StrictArray:
    """Move host data onto the strict device."""
    return StrictArray(np.array(array._a if isinstance(array, StrictArray) else array,
                                dtype=dtype))  # fmt: skip
