"""One contiguous buffer for all gradients of a step, summed over the ranks in one call.

An ``Allreduce`` per parameter would pay MPI's latency once per tensor (an MLP of 3 layers:
6 calls a step); one call on one large buffer pays it once and lets MPI pipeline the rest.
The buffer is made once per ``fit`` and reused by every step; a few slots at its end carry
the step's scalars (the loss and the metric's batch sum), so they ride on the same call.

The buffer lives in host memory: MPI wheels are not CUDA-aware, so gradients on a GPU are
copied into it explicitly (:func:`deltaprop.backend.to_numpy`) and back after the sum. Where
it lives is the caller's choice (``buffer=``): a private array for ``Allreduce``, or this
rank's slot of a shared-memory window (:mod:`deltaprop.parallel.gradsum`), and the sum may
come back in another array of the same layout (``unpack(summed)``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import backend
from ..autograd.tensor import Tensor
from ..errors import ConfigError


def layout(params: Sequence[Tensor], n_scalars: int = 0) -> tuple[np.dtype, int]:
    """``(dtype, size)`` of the buffer a :class:`GradBucket` of ``params`` needs: one dtype,
    the widest of the parameters' (float32 normally; float64 when any parameter is), and
    ``sum(p.size) + n_scalars`` numbers."""
    dtypes = [p.data.dtype for p in params] or [np.dtype(backend.default_dtype())]
    return np.dtype(np.result_type(*dtypes)), sum(int(p.data.size) for p in params) + n_scalars


class GradBucket:
    """Views into one host buffer of ``sum(p.size) + n_scalars`` numbers.

    Args:
        params: the parameters whose gradients are summed (their order fixes the layout).
        n_scalars: extra slots at the end (:attr:`scalars`).
        buffer: where :meth:`pack` writes: a 1-D host array of :func:`layout`'s dtype and
            size (default: a new private array of zeros).
    """

    def __init__(
        self, params: Sequence[Tensor], n_scalars: int = 0, buffer: np.ndarray | None = None
    ) -> None:
        self.params = list(params)
        self.dtype, size = layout(self.params, n_scalars)
        self.n_scalars = n_scalars
        if buffer is None:
            buffer = np.zeros(size, dtype=self.dtype)
        elif buffer.shape != (size,) or buffer.dtype != self.dtype:
            raise ConfigError(
                f"buffer: expected a 1-D array of {size} {self.dtype} (see layout()), got "
                f"shape {buffer.shape} {buffer.dtype}"
            )
        self.buffer = buffer
        self.views = self._views_of(buffer)
        self.scalars = self.scalars_of(buffer)
        self._host = all(backend.xp_of(p.data) is np for p in self.params)
        self._summed: tuple[np.ndarray, list[np.ndarray]] = (buffer, self.views)
        self.in_place = 0  # gradients the last pack found already written in their view

    @property
    def on_host(self) -> bool:
        """Whether the parameters are NumPy arrays (else the device's: the gradients are
        copied to and from the buffer, never views of it)."""
        return self._host

    def _views_of(self, array: np.ndarray) -> list[np.ndarray]:
        views, offset = [], 0
        for p in self.params:
            n = int(p.data.size)
            views.append(array[offset : offset + n].reshape(p.data.shape))
            offset += n
        return views

    def scalars_of(self, array: np.ndarray) -> np.ndarray:
        """The scalar slots of ``array`` (the buffer, or a sum in the same layout)."""
        return array[array.shape[0] - self.n_scalars :]

    def pack(self, scale: float) -> None:
        """Copy every gradient, times ``scale``, into the buffer (zeros where there is none).
        A gradient that already is its view (a compiled step wrote it there, scaled) stays;
        ``in_place`` counts those of the last pack."""
        self.in_place = 0
        for p, view in zip(self.params, self.views):
            g = p.grad
            if g is None:
                view.fill(0)
            elif g.data is view:
                self.in_place += 1
            elif self._host:
                np.multiply(g.data, scale, out=view, casting="unsafe")
            else:  # the explicit copy off the device (MPI is not CUDA-aware)
                view[...] = backend.to_numpy(g.data * scale)

    def zero(self) -> None:
        """A rank with no rows in this batch contributes nothing."""
        self.buffer.fill(0)

    def unpack(self, summed: np.ndarray | None = None, copy: bool = False) -> None:
        """Make the summed gradients the parameters' ``grad``: views of ``summed`` (default:
        the buffer, summed in place) on the host, valid until the next step's sum; copies on
        a device, and with ``copy`` (for a caller that changes them in place while ``summed``
        is shared with other processes)."""
        summed = self.buffer if summed is None else summed
        if self._summed[0] is not summed:  # a sum lands in the same array every step
            self._summed = (summed, self._views_of(summed))
        views = self._summed[1]
        for p, view in zip(self.params, views):
            if not p.requires_grad:
                continue
            if self._host:
                data = view.copy() if copy else view
            else:
                data = backend.xp_of(p.data).asarray(view)
            p.grad = Tensor._wrap(data)
