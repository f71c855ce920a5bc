"""One contiguous buffer for all gradients of a step, summed over the ranks in one call.

An ``Allreduce`` per parameter would pay MPI's latency once per tensor (an MLP of 3 layers:
6 calls a step); one call on one large buffer pays it once and lets MPI pipeline the rest.
The buffer is made once per ``fit`` and reused by every step; a few slots at its end carry
the step's scalars (the loss and the metric's batch sum), so they ride on the same call.

The buffer lives in host memory: MPI wheels are not CUDA-aware, so gradients on a GPU are
copied into it explicitly (:func:`deltaprop.backend.to_numpy`) and back after the sum.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import backend
from ..autograd.tensor import Tensor


class GradBucket:
    """Views into one host buffer of ``sum(p.size) + n_scalars`` numbers.

    Args:
        params: the parameters whose gradients are summed (their order fixes the layout).
        n_scalars: extra slots at the end (:attr:`scalars`).
    """

    def __init__(self, params: Sequence[Tensor], n_scalars: int = 0) -> None:
        self.params = list(params)
        dtypes = [p.data.dtype for p in self.params] or [np.dtype(backend.default_dtype())]
        # one dtype for the whole buffer: the widest of the parameters' (float32 normally)
        self.dtype = np.result_type(*dtypes)
        sizes = [int(p.data.size) for p in self.params]
        total = sum(sizes)
        self.buffer = np.zeros(total + n_scalars, dtype=self.dtype)
        self.views = []
        offset = 0
        for p, n in zip(self.params, sizes):
            self.views.append(self.buffer[offset : offset + n].reshape(p.data.shape))
            offset += n
        self.scalars = self.buffer[total:]
        self._host = all(backend.xp_of(p.data) is np for p in self.params)

    def pack(self, scale: float) -> None:
        """Copy every gradient, times ``scale``, into the buffer (zeros where there is none)."""
        for p, view in zip(self.params, self.views):
            g = p.grad
            if g is None:
                view.fill(0)
            elif self._host:
                np.multiply(g.data, scale, out=view, casting="unsafe")
            else:  # the explicit copy off the device (MPI is not CUDA-aware)
                view[...] = backend.to_numpy(g.data * scale)

    def zero(self) -> None:
        """A rank with no rows in this batch contributes nothing."""
        self.buffer.fill(0)

    def unpack(self) -> None:
        """Make the summed gradients the parameters' ``grad`` (views of the buffer on the
        host: valid until the next step packs; copies on a device)."""
        for p, view in zip(self.params, self.views):
            if not p.requires_grad:
                continue
            data = view if self._host else backend.xp_of(p.data).asarray(view)
            p.grad = Tensor._wrap(data)
