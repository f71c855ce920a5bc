"""The compiled training step: record one step's kernels, replay them with buffers.

``step = dp.compile_step(model, loss_fn, optimizer)`` returns a callable ``step(xb, yb) ->
float``. Its first call for a batch shape runs the ordinary eager step while recording the ops
of forward and loss (:mod:`.trace`); each op becomes a replay kernel (:mod:`.rules`): buffer
kernels for the dense path (:mod:`.dense`, :mod:`.losses`), the op's own code elsewhere
(:mod:`.generic`). The dense kernels write their own lines of NumPy calls, which
:mod:`.source` strings into one forward and one backward function; later calls run those
(:mod:`.program`), then the optimizer's own step: every intermediate and gradient in a buffer
allocated once, NumPy calls with ``out=``, no Tensor or Function objects, no graph walk.
``step.describe()`` lists the kernels, ``step.source()`` prints the generated Python.
``Trainer(..., compile=True)`` trains through one.
"""

from .step import CompiledStep, compile_step

__all__ = ["CompiledStep", "compile_step"]
