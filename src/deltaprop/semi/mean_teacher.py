"""Mean teacher (Tarvainen and Valpola, 2017): consistency between the model and an average of
its own past weights on augmented unlabeled rows.

The teacher is a copy of the model whose weights follow the model's as an exponential moving
average, ``teacher = a * teacher + (1 - a) * model`` after every step, with
``a = min(1 - 1 / (step + 1), ema_decay)`` (a plain mean of the weights so far while there are
few of them). Each step pairs the labeled batch with as many unlabeled rows, augmented twice
independently: the model sees one version, the teacher (no graph) the other, and the loss is

    cross_entropy(model(x_l), y)
        + w(epoch) * mean_rows sum_classes (softmax(model(u')) - softmax(teacher(u'')))^2

so that the model learns to answer as the steadier teacher does whatever the augmentation did.
The weight ramps up as ``w = weight * exp(-5 (1 - epoch / ramp_up)^2)`` over the first
``ramp_up`` epochs (Laine and Aila's sigmoid ramp-up: no pull towards a teacher that knows
nothing yet). The labeled rows are oversampled to as many rows as the unlabeled part holds
(an epoch is a pass over the unlabeled rows).

For the one ``fit``, the method replaces the Trainer's per-step hook ``forward_loss`` (an
attribute of that Trainer, removed afterwards) with one that adds the consistency term, and
lists a callback that moves the teacher after every step; the rest of the step (penalty,
backward, clipping, the optimizer step) is the Trainer's own ``train_step``. The reported
``loss`` is the whole loss minimized (supervised + weighted consistency). Neither the compiled
step nor the data-parallel one calls ``forward_loss``: a Trainer with ``compile`` or
``distributed`` is refused.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np

from .. import backend
from ..autograd.tensor import Tensor
from ..checks import check_fraction, check_int, check_real
from ..config import no_grad
from ..data.augment import Augment, resolve
from ..errors import ConfigError
from ..ops import softmax
from ..train import Trainer
from ..train.callbacks import Callback, History
from .base import SemiSupervised, oversample

#: The generator of the unlabeled rows' order and augmentation is
#: ``default_rng((seed, MEAN_TEACHER_STREAM))``, apart from fit's shuffling. Bytes of "mt".
MEAN_TEACHER_STREAM = 0x6D74


def consistency_loss(logits: Tensor, target_probs: Any) -> Tensor:
    """Mean over rows of the squared distance between ``softmax(logits)`` and
    ``target_probs``: ``mean_i sum_c (softmax(logits)_ic - p_ic)^2``, a scalar Tensor.

    Args:
        logits: (N, C) the model's outputs, recording a graph.
        target_probs: (N, C) probabilities (an array, or a Tensor taken as a constant).
    """
    target = target_probs.data if isinstance(target_probs, Tensor) else target_probs
    diff = softmax(logits, axis=1) - Tensor._wrap(target)
    return (diff * diff).sum(axis=1).mean()


def ramp_up(epoch: float, length: int) -> float:
    """``exp(-5 (1 - t)^2)`` with ``t = epoch / length`` clipped to [0, 1]; 1 when ``length``
    is 0."""
    if length <= 0:
        return 1.0
    t = min(max(epoch / length, 0.0), 1.0)
    return math.exp(-5.0 * (1.0 - t) ** 2)


def _softmax_np(z: Any) -> Any:
    xp = backend.xp_of(z)
    e = xp.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class MeanTeacher(SemiSupervised):
    """Mean-teacher consistency training (see the module docstring).

    Args:
        weight: the consistency loss's weight after the ramp-up, >= 0.
        ramp_up: epochs over which the weight ramps up (0: the full weight from the start).
        ema_decay: the teacher's moving-average decay, in [0, 1).
        augment: the augmentation of the unlabeled rows (names or an Augment, as ``fit``'s
            ``augment``); steps that need labels (``neighbours``, ``mixup``) do not apply.
        image_shape: (C, H, W) when the rows are flat images and ``augment`` has image steps.
        use_teacher: the trained model ends with the teacher's weights (the average, usually
            the better of the two); False keeps the model's own.
    """

    name = "mean-teacher"

    def __init__(
        self,
        weight: float = 5.0,
        ramp_up: int = 5,
        ema_decay: float = 0.99,
        augment: Any = "noise",
        image_shape: tuple[int, int, int] | None = None,
        use_teacher: bool = True,
    ) -> None:
        self.weight = check_real(weight, "weight")
        self.ramp_up = check_int(ramp_up, "ramp_up", minimum=0)
        self.ema_decay = check_fraction(ema_decay, "ema_decay", closed_low=True)
        self.augment = augment
        self.image_shape = image_shape
        self.use_teacher = use_teacher
        made = self._made_augment()
        if made is not None:
            for step in made.steps:
                if step.relabels or step.name == "neighbours":
                    raise ConfigError(
                        f"augment: {step.name} needs labels, and the unlabeled rows have none; "
                        "use noise, or image steps (shift, rotate, cutout) on images"
                    )

    def _made_augment(self) -> Augment | None:
        made = resolve(self.augment, "augment")
        if made is not None and self.image_shape is not None and made.image_shape is None:
            made = Augment(made.steps, image_shape=self.image_shape)
        return made

    def options(self) -> dict[str, Any]:
        return {"weight": self.weight, "ramp_up": self.ramp_up, "ema_decay": self.ema_decay,
                "augment": self.augment}  # fmt: skip

    def _train(
        self, trainer: Trainer, X: Any, y: Any, U: Any, n_out: int, fit_kwargs: dict[str, Any]
    ) -> History:
        # Both would skip the step's consistency term (neither calls forward_loss): the
        # data-parallel run ended with the untrained weights (the teacher never moved).
        if trainer.compile:
            raise ConfigError(
                "compile: mean-teacher adds its consistency loss in the Trainer's forward_loss, "
                "which the compiled step does not record; use a Trainer with compile=False"
            )
        if trainer._dist is not None:  # noqa: SLF001
            raise ConfigError(
                "distributed: mean-teacher adds its consistency loss in the Trainer's "
                "forward_loss, which the data-parallel step does not call; use a Trainer "
                "without distributed"
            )
        if fit_kwargs.get("augment") is not None and type(trainer).forward_loss is not (
            Trainer.forward_loss
        ):  # e.g. a Distiller, which shows its teacher each augmented batch there
            raise ConfigError(
                f"augment: {type(trainer).__name__} computes its loss on each augmented batch in "
                "its own forward_loss, which mean-teacher's replaces; drop augment"
            )
        augment = self._made_augment()
        if augment is not None:  # fitted on the unlabeled rows it will change
            augment = copy.deepcopy(augment)
            augment.fit(U, np.zeros(U.shape[0]), classes=None, n_classes=None)
        seed = fit_kwargs.get("seed")
        rng = (
            backend.spawn_rng()
            if seed is None
            else np.random.default_rng((seed, MEAN_TEACHER_STREAM))
        )
        teacher = copy.deepcopy(trainer.model).train()
        step = _Step(self, trainer, teacher, U, augment, rng)
        X, y = oversample(X, y, U.shape[0])
        # this Trainer's forward and loss for this fit, and the teacher's average after every
        # step (see the module docstring)
        trainer.forward_loss = step.forward_loss
        trainer.callbacks.append(step)
        try:
            history = trainer.fit(X, y, **fit_kwargs)
        finally:
            del trainer.forward_loss
            trainer.callbacks.callbacks.remove(step)
        if self.use_teacher:
            trainer.model.load_state_dict(teacher.state_dict())
        return history


class _Step(Callback):
    """The mean-teacher part of each training step of one ``fit``: :meth:`forward_loss`
    replaces the Trainer's (:meth:`Trainer.forward_loss <deltaprop.train.step.TrainStep.
    forward_loss>`: the rest of the step is the Trainer's own), and after every step
    (``on_batch_end``) the teacher moves towards the model."""

    def __init__(self, method: MeanTeacher, trainer: Trainer, teacher: Any, U: Any,
                 augment: Augment | None, rng: np.random.Generator) -> None:  # fmt: skip
        self.method, self.trainer, self.teacher = method, trainer, teacher
        self.U, self.augment, self.rng = U, augment, rng
        self.order = rng.permutation(U.shape[0])
        self.next = 0  # position in ``order`` of the next unlabeled row
        self.steps = 0
        self.pairs = list(zip(teacher.parameters(), trainer.model.parameters()))
        self.buffers = list(zip((b for _, b in teacher.named_buffers()),
                                (b for _, b in trainer.model.named_buffers())))  # fmt: skip

    def unlabeled_batch(self, n: int) -> Any:
        """The next ``n`` unlabeled rows (all of them when fewer), a fresh order each pass."""
        m = self.U.shape[0]
        n = min(n, m)
        if self.next + n > m:
            self.order, self.next = self.rng.permutation(m), 0
        rows = self.order[self.next : self.next + n]
        self.next += n
        xp = backend.xp_of(self.U)
        return self.U[rows if xp is np else xp.asarray(rows)]

    def forward_loss(self, xb: Any, yb: Any) -> tuple[Tensor, Any]:
        """The labeled batch and as many unlabeled rows in one forward: (the supervised loss
        + the weighted consistency loss, the labeled rows' outputs)."""
        trainer, method = self.trainer, self.method
        ub = self.unlabeled_batch(xb.shape[0])
        if self.augment is None:
            u_model, u_teacher = ub, ub
        else:
            u_model, _ = self.augment(ub, None, self.rng)
            u_teacher, _ = self.augment(ub, None, self.rng)
        nb = xb.shape[0]
        xp = backend.xp_of(xb)
        out = trainer.model(Tensor._wrap(xp.concatenate([xb, u_model])))
        out_l = out[:nb]
        loss = trainer._train_loss(out_l, yb)  # noqa: SLF001 - the loss fit chose (mixup's form)
        epochs_done = len(trainer.history.epoch) if trainer.history is not None else 0
        w = method.weight * ramp_up(epochs_done, method.ramp_up)
        if w > 0:
            with no_grad():
                p_teacher = _softmax_np(self.teacher(Tensor._wrap(u_teacher)).data)
            loss = loss + consistency_loss(out[nb:], p_teacher) * w
        return loss, out_l.data

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.update_teacher()  # after the optimizer's step (a refused NaN step has no end)

    def update_teacher(self) -> None:
        """teacher = a * teacher + (1 - a) * model, ``a = min(1 - 1/(step + 1), ema_decay)``;
        buffers (batch-norm statistics) are copied."""
        self.steps += 1
        a = min(1.0 - 1.0 / (self.steps + 1), self.method.ema_decay)
        for t, s in self.pairs:
            t.data *= a
            t.data += (1.0 - a) * s.data
        for t, s in self.buffers:
            t.data[...] = s.data
