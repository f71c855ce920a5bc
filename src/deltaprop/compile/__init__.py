"""The compiled training step: record one step's kernels, replay them with buffers.

``step = dp.compile_step(model, loss_fn, optimizer)`` returns a callable ``step(xb, yb) ->
float``. Its first call for a batch shape runs the ordinary eager step while recording the ops
of forward and loss (:mod:`.trace`); each op becomes a replay kernel (:mod:`.rules`): buffer
kernels for the dense path (:mod:`.dense`, :mod:`.losses`), the op's own code elsewhere
(:mod:`.generic`). Later calls replay them (:mod:`.program`) and the optimizer's update
(:mod:`.update`): every intermediate and gradient in a buffer allocated once, NumPy calls
with ``out=``, no Tensor or Function objects, no graph walk. ``step.describe()`` prints the
kernels. ``Trainer(..., compile=True)`` trains through one.
"""

from .step import CompiledStep, compile_step

__all__ = ["CompiledStep", "compile_step"]
