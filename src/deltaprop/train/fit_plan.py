"""What :meth:`Trainer.fit <deltaprop.train.trainer.Trainer.fit>` does before it trains: every
argument checked once, the data prepared (the model's dtype and device, the validation rows
split off, the augmentation fitted to the training rows) and the
:class:`~deltaprop.train.loop.EpochLoop` those values configure. Nothing here changes the
model, the optimizer or any random generator: a bad argument leaves everything as it was.
"""

from __future__ import annotations

from typing import Any

from ..checks import check_bool, check_choice, check_fraction, check_int, check_optional
from ..data.loader import DESCENTS, batch_size_for
from ..errors import ConfigError
from . import augmenting, inputs, validation
from .loop import EpochLoop


def plan_fit(
    trainer: Any,
    X: Any,
    y: Any,
    *,
    epochs: Any,
    descent: Any,
    batch_size: Any,
    validation_data: Any,
    log_every: Any,
    shuffle: Any,
    seed: Any,
    verbose: Any,
    validation_split: Any,
    drop_last: Any,
    augment: Any,
) -> tuple[EpochLoop, Any]:
    """``(the loop, the resolved augmentation or None)`` for ``trainer.fit``'s arguments (see
    there), checked: ConfigError, DataError or ShapeError naming the argument otherwise."""
    if trainer.optimizer is None:
        raise ConfigError("optimizer: fit needs an Optimizer; this Trainer was made without")
    if not any(p.requires_grad for p in trainer.optimizer.params):
        raise ConfigError(
            "model: every parameter the optimizer updates is frozen (requires_grad=False), "
            "so training would change nothing; unfreeze some, e.g. model.unfreeze(-1)"
        )
    # Every check once, here: the epoch loop trusts these values.
    epochs = check_int(epochs, "epochs")
    descent = check_choice(descent, DESCENTS, "descent")
    if descent == "minibatch":
        batch_size = check_int(batch_size, "batch_size")
    else:  # ignored, but a wrong value is still a mistake worth reporting
        batch_size = check_optional(check_int, batch_size, "batch_size")
    log_every = check_int(log_every, "log_every")
    shuffle = check_bool(shuffle, "shuffle")
    verbose = check_bool(verbose, "verbose")
    seed = check_optional(check_int, seed, "seed", minimum=0)
    if validation_split is not None and validation_data is not None:
        raise ConfigError("validation_split: give validation_split or validation_data, not both")
    validation_split = check_optional(check_fraction, validation_split, "validation_split")
    drop_last = check_bool(drop_last, "drop_last")
    augment = augmenting.resolve(augment)
    X, y, n_out = trainer._prepare_with_width(X, y, "X", "y")
    val = None
    if validation_data is not None:
        Xv, yv = inputs.unpack_validation(validation_data)
        val = trainer._prepare(Xv, yv, "validation_data[0]", "validation_data[1]")
    elif validation_split is not None:
        X, y, val = validation.split_off(X, y, validation_split, trainer.task)
    if augment is not None:  # on the training rows only, after the split
        augmenting.fit_to(augment, X, y, trainer._kind, n_out)
    bs = batch_size_for(descent, batch_size, X.shape[0])
    if trainer._dist is not None:
        trainer._dist.check_batch(bs, X.shape[0])
    inputs.check_batchnorm_batches(trainer.model, X.shape[0], bs, descent, drop_last)
    schedule = trainer.scheduler
    per_epoch = schedule is not None and trainer.scheduler_interval == "epoch"
    loop = EpochLoop(
        trainer=trainer, X=X, y=y, epochs=epochs, descent=descent, batch_size=bs, val=val,
        log_every=log_every, shuffle=shuffle and descent != "batch", seed=seed,
        verbose=verbose, drop_last=drop_last, step=trainer._step_function(),
        evaluate=trainer._evaluate_arrays,
        metric=trainer._streaming[0].name if trainer._streaming else None,
        metric_columns=y.shape[1] if trainer._kind == "regression" and y.ndim == 2 else 1,
        loss_per_row=trainer._loss_per_row,
        grad_norm=trainer._epoch_grad_norm if trainer.clip_norm is not None else None,
        schedule_epoch=schedule.step if per_epoch else None, augment=augment,
    )  # fmt: skip
    return loop, augment
