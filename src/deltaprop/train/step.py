"""One training step: forward, loss (+ penalty), backward, clip, optimizer step.

:class:`TrainStep` is the part of the Trainer that runs per batch. It reads the attributes the
Trainer's constructor sets (``model``, ``optimizer``, ``scheduler``, ``clip_norm``,
``clip_value``, ``_penalties``) and the loss and metric calls ``fit`` chose for training
(``_train_loss``, ``_train_stat``: the Trainer's own, or their probability forms when
augmentation mixes labels), and nothing else. :meth:`TrainStep.forward_loss` is the per-step
hook a subclass or wrapper overrides to train on another loss.

Speed: this is the per-step path. The batch views are wrapped without conversion, the fused
loss Function is called directly for the common losses (:func:`~deltaprop.train.inference.
fast_loss_call`), sums stay Python floats, and options that are off (penalties, clipping)
cost one attribute test each.
"""

from __future__ import annotations

import math
from typing import Any

from ..autograd.engine import backward as _backward
from ..autograd.tensor import Tensor
from ..optim.clip import clip_grad_norm, clip_grad_value
from . import penalty
from .loop import NonFiniteLoss


class TrainStep:
    """``train_step`` and what it needs between steps; the Trainer inherits it."""

    _grad_params: list[Tensor]
    _compiled = None  # a CompiledStep with Trainer(compile=True)
    _norm_sum = 0.0  # sum of the pre-clip norms of the epoch's steps so far
    _norm_steps = 0

    def _refresh_grad_params(self) -> None:
        """Everything whose gradient must be cleared before backward (model and optimizer)."""
        params = list(self.model.parameters())
        seen = {id(p) for p in params}
        if self.optimizer is not None:
            params += [p for p in self.optimizer.params if id(p) not in seen]
        self._grad_params = params
        self._clip_params = [] if self.optimizer is None else self.optimizer.params

    # --- one step ----------------------------------------------------------------------------
    def forward_loss(self, xb, yb) -> tuple[Tensor, Any]:
        """The forward and loss phase of one training step: ``(loss, outputs)``, the loss a
        one-element Tensor recording the graph backward will walk, the outputs (N, ...) the
        model's output array, which the streaming metric scores against ``yb``.

        The hook a subclass (or a wrapper, for one ``fit``) overrides to train on another loss
        while :meth:`train_step` does the rest as usual: the penalty, the NaN check, the
        metric, backward, clipping and the optimizer step (the Distiller packs the teacher's
        logits into the targets here; the mean teacher adds its consistency term).

        Neither the compiled step (``compile=True``: it records the model and ``loss``) nor
        the data-parallel step (``distributed``: it calls the model and the training loss
        call itself) calls this method, so an override must refuse those where it matters.
        """
        out = self.model(Tensor._wrap(xb))
        return self._train_loss(out, yb), out.data

    def train_step(self, xb, yb) -> tuple[float, float | None]:
        """Forward, loss (+ penalty), backward, clip, optimizer step on one batch.

        ``xb``/``yb`` must already be validated arrays in the model's dtype and on its device
        (``fit`` prepares them once); nothing is checked here.

        Returns:
            (the batch loss including the l1/l2 penalty, the batch sum of the streaming
            metric, e.g. the number of correct predictions for accuracy; None without one).

        Raises:
            TrainingError: the loss is NaN/Inf; the step is not taken, the weights are unchanged.
        """
        compiled = self._compiled
        if compiled is None:
            loss, out = self.forward_loss(xb, yb)
            value = float(loss.data)
        else:  # the recorded kernels (deltaprop.compile): the same phases, replayed
            value, out = compiled.forward(xb, yb)
        if self._penalties:
            value += penalty.value(self._penalties)
        if not math.isfinite(value):
            if compiled is not None:
                compiled.abandon()
            raise NonFiniteLoss(value)
        stat = None if self._train_stat is None else self._train_stat(out, yb)
        if compiled is None:
            for p in self._grad_params:
                p.grad = None
            _backward(loss)
        else:
            compiled.backward()
        if self._penalties:
            penalty.add_gradients(self._penalties)  # closed form; see train/penalty.py
        if self.clip_norm is not None:
            self._norm_sum += clip_grad_norm(self._clip_params, self.clip_norm)
            self._norm_steps += 1
        if self.clip_value is not None:
            clip_grad_value(self._clip_params, self.clip_value)
        if compiled is None:
            self.optimizer.step()
        else:
            compiled.update()
        return value, stat

    def _step_function(self, step=None):
        """The step the loop calls per batch, chosen once: :meth:`train_step` (or ``step``:
        the data-parallel one), wrapped to step a per-step schedule after it."""
        step = self.train_step if step is None else step
        if self.scheduler is None or self.scheduler_interval != "step":
            return step
        schedule_step = self.scheduler.step

        def step_and_schedule(xb, yb):
            result = step(xb, yb)
            schedule_step()
            return result

        return step_and_schedule

    def _epoch_grad_norm(self) -> float:
        """The mean pre-clip gradient norm of the steps since the last call (for the epoch's
        ``grad_norm``), and a fresh start for the next epoch."""
        mean = self._norm_sum / max(self._norm_steps, 1)
        self._norm_sum, self._norm_steps = 0.0, 0
        return mean
