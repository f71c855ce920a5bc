"""Distiller: a Trainer that teaches a small student what a big, fixed teacher knows.

The student trains on :func:`deltaprop.ops.distillation_loss`: the teacher's softened class
probabilities (temperature T, weight alpha, the T^2 factor) and the true labels (weight
1 - alpha). Everything else is the Trainer's: optimizers, schedules, callbacks, validation,
checkpoints, the NaN guard; ``evaluate``/``predict`` score the student on the labels alone.

The teacher never changes: it runs in eval mode (dropout off, batch norm on its running
statistics) and under ``no_grad``. When no augmentation runs, its logits are computed once, as
``fit`` starts, and travel with the rows through the shuffling (one teacher pass in all, not
one per epoch); with augmentation every batch is new, so the teacher sees each augmented batch.
"""

from __future__ import annotations

from typing import Any

from ..autograd.tensor import Tensor
from ..backend import xp_of
from ..checks import check_fraction, check_real
from ..config import no_grad
from ..errors import ConfigError, ShapeError
from ..nn import CrossEntropyLoss, Module
from ..ops.distill import DistillationLoss
from ..train import Trainer, augmenting, inputs, validation

#: Rows per teacher forward when its logits are cached (bounded memory for big sets).
TEACHER_BATCH = 1024


class Distiller(Trainer):
    """Train ``student`` from a fixed ``teacher`` (Keras-style ``fit``, as the Trainer's).

    Args:
        student: the model to train, (N, ...) -> (N, C) logits.
        teacher: a trained model with the same inputs and the same C outputs (e.g.
            ``dp.load("big.safetensors")``); it is only read.
        temperature: T > 0 of the soft targets (4 is a common choice; 1: plain softmax).
        alpha: weight in [0, 1] of the teacher's term; the labels get ``1 - alpha``.
        optimizer, lr, metrics, callbacks, and the other keyword arguments: as for
            :class:`~deltaprop.Trainer` (the loss is the distillation loss; ``val_loss``
            and ``evaluate`` report the student's cross-entropy on the labels).
            ``device`` moves the teacher there too; ``distributed`` splits each batch, and
            its packed teacher logits, over the ranks.

    Raises:
        ConfigError: a teacher that is not a Module (or is the student), temperature <= 0,
            alpha outside [0, 1], ``compile=True`` (the distillation loss cannot be
            recorded); at ``fit``, a teacher whose input or output size does not fit the
            data (the message names ``teacher``), mixup augmentation (it mixes the labels
            the hard term needs), or augmentation with ``distributed``.
    """

    def __init__(
        self,
        student: Module,
        teacher: Module,
        temperature: float = 4.0,
        alpha: float = 0.5,
        optimizer: Any = "adam",
        **kwargs: Any,
    ) -> None:
        if not isinstance(teacher, Module):
            raise ConfigError(
                f"teacher: expected a trained deltaprop Module (e.g. dp.load(path)), got "
                f"{type(teacher).__name__}"
            )
        if teacher is student:
            raise ConfigError("teacher: expected another model than the student, got the same")
        temperature = check_real(temperature, "temperature", strict=True)
        alpha = check_fraction(alpha, "alpha", closed_low=True, closed_high=True)
        if "loss" in kwargs or "task" in kwargs:
            raise ConfigError("loss: a Distiller trains on the distillation loss; give none")
        if kwargs.get("compile") is True:
            # The recording would replay a loss of the targets alone: the teacher's logits
            # travel in them, which the recorded cross-entropy cannot read.
            raise ConfigError(
                "compile: a Distiller trains on the distillation loss, which the compiled step "
                "cannot record; train it eagerly (compile=False)"
            )
        super().__init__(student, CrossEntropyLoss(), optimizer, task="classification", **kwargs)
        if kwargs.get("device") is not None:  # the teacher's logits are computed where X is
            teacher.to(kwargs["device"])
        self.teacher = teacher
        self.temperature = temperature
        self.alpha = alpha
        self._packed: tuple[Any, Any, int] | None = None
        self._per_batch = False
        self._loss_call, self._batch_stat = self._with_teacher(self._loss_call, self._batch_stat)
        self._train_loss, self._train_stat = self._loss_call, self._batch_stat

    # --- the loss on packed targets ------------------------------------------------------------
    def _with_teacher(self, plain_loss, plain_stat):
        """Loss and metric calls that take either labels (N,) -- validation, ``evaluate`` --
        or, while training, the teacher's logits with the label as a last column (N, C + 1)."""
        apply = DistillationLoss.apply
        T, alpha = self.temperature, self.alpha

        def loss(out, yb):
            if yb.ndim == 1:
                return plain_loss(out, yb)
            labels = Tensor._wrap(yb[:, -1].astype("int64"))
            return apply(out, labels, teacher=yb[:, :-1], temperature=T, alpha=alpha,
                         reduction="mean")  # fmt: skip

        def stat(out, yb):
            return plain_stat(out, yb if yb.ndim == 1 else yb[:, -1].astype("int64"))

        return loss, (None if plain_stat is None else stat)

    def teacher_logits(self, X: Any) -> Any:
        """The teacher's logits (N, C) for prepared rows X, in eval mode, without a graph, in
        the student's dtype, :data:`TEACHER_BATCH` rows at a time."""
        dtype, _ = inputs.model_dtype_and_xp(self.model)
        xp = xp_of(X)
        parts = []
        with self.teacher.evaluating(), no_grad():
            for i in range(0, X.shape[0], TEACHER_BATCH):
                parts.append(self.teacher(Tensor._wrap(X[i : i + TEACHER_BATCH])).data)
        out = parts[0] if len(parts) == 1 else xp.concatenate(parts)
        return out.astype(dtype, copy=False)

    def _pack(self, X: Any, y: Any) -> Any:
        logits = self.teacher_logits(X)
        return xp_of(logits).concatenate([logits, y[:, None].astype(logits.dtype)], axis=1)

    # --- fit ---------------------------------------------------------------------------------
    def fit(
        self,
        X: Any,
        y: Any,
        *args: Any,
        validation_data: Any = None,
        validation_split: float | None = None,
        augment: Any = None,
        **kwargs: Any,
    ):
        """Train the student for ``epochs`` passes over (X, y): the arguments and the History
        of :meth:`Trainer.fit`. ``validation_split`` holds out the rows the Trainer would."""
        if args:
            raise ConfigError("fit: give the arguments after X and y by name (epochs=...)")
        Xp, yp, n_out = super()._prepare_with_width(X, y, "X", "y")
        self._check_teacher(Xp, n_out)
        resolved = augmenting.resolve(augment)
        if resolved is not None and resolved.relabels:
            raise ConfigError(
                "augment: mixup mixes the labels, and distillation's hard term needs them; "
                "drop mixup (the teacher's soft targets already smooth the labels)"
            )
        if validation_split is not None and validation_data is None:
            fraction = check_fraction(validation_split, "validation_split")
            Xp, yp, validation_data = validation.split_off(Xp, yp, fraction, "classification")
            validation_split = None
        if resolved is not None and self._dist is not None:
            raise ConfigError(
                "augment: the teacher must see every augmented batch, which the data-parallel "
                "step (distributed) does not do; drop augment, or distributed"
            )
        self._per_batch = resolved is not None
        self._packed = (Xp, yp if self._per_batch else self._pack(Xp, yp), n_out)
        try:
            return super().fit(Xp, self._packed[1], validation_data=validation_data,
                               validation_split=validation_split, augment=resolved,
                               **kwargs)  # fmt: skip
        finally:
            self._packed = None

    def _prepare_with_width(self, X, y, x_name, y_name):
        # fit prepared (and packed) the training rows already; anything else is checked here
        if self._packed is not None and X is self._packed[0]:
            return self._packed
        return super()._prepare_with_width(X, y, x_name, y_name)

    def forward_loss(self, xb, yb) -> tuple[Tensor, Any]:
        """The Trainer's forward and loss on the distillation loss; with augmentation the
        teacher first sees the augmented batch (the metric still scores the labels ``yb``)."""
        if self._per_batch:
            yb = self._pack(xb, yb)
        return super().forward_loss(xb, yb)

    def _check_teacher(self, X: Any, n_out: int) -> None:
        """ConfigError naming ``teacher`` unless it takes these rows and gives n_out logits."""
        try:
            _, width = inputs.prepare_X(self.teacher, X, "X")
        except ShapeError as exc:
            raise ConfigError(f"teacher: does not fit the data: {exc}") from None
        if width != n_out:
            raise ConfigError(
                f"teacher: gives {width} outputs, but the student and the data have {n_out} "
                "classes; expected a teacher trained on the same classes"
            )

    def __repr__(self) -> str:
        return (
            f"Distiller(student={type(self.model).__name__}, teacher="
            f"{type(self.teacher).__name__}, temperature={self.temperature:g}, "
            f"alpha={self.alpha:g}, optimizer={type(self.optimizer).__name__})"
        )
