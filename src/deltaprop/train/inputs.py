"""The Trainer's boundary: turn user arguments into validated arrays, or fail naming the argument.

Everything here runs before ``fit``/``evaluate``/``predict`` touch the model, so a bad call
changes nothing. The hot loop then trusts these arrays and never checks again.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .. import backend
from ..autograd.tensor import Tensor
from ..checks import check_choice, check_int, check_optional
from ..config import no_grad
from ..data.checks import check_features, check_labels, check_targets
from ..errors import ConfigError, DataError, DeltapropError, ShapeError
from ..nn.losses import get_loss
from ..nn.module import Module
from ..nn.normalization import BatchNorm1d
from ..nn.sequential import Sequential
from ..optim import Optimizer, get_optimizer
from .metrics import TASKS


def check_scheduler(scheduler: Any, interval: Any, optimizer: Any) -> str:
    """The interval (``"epoch"`` or ``"step"``), and a schedule that steps ``optimizer``."""
    interval = check_choice(interval, ("epoch", "step"), "scheduler_interval")
    if scheduler is None:
        return interval
    if not callable(getattr(scheduler, "step", None)) or not hasattr(scheduler, "optimizer"):
        raise ConfigError(
            f"scheduler: expected a learning-rate schedule (e.g. optim.schedules.StepLR) with "
            f"step() and optimizer, got {type(scheduler).__name__}"
        )
    if scheduler.optimizer is not optimizer:
        raise ConfigError(
            "scheduler: it was built on another optimizer than this Trainer's; build it on the "
            "Optimizer you pass as optimizer= (a name there makes a new one: pass the object)"
        )
    return interval


def check_batch_size(batch_size: Any, name: str = "batch_size") -> int | None:
    """None or an integer >= 1."""
    return check_optional(check_int, batch_size, name)


def model_dtype_and_xp(model: Module):
    """(float dtype, array module) of the model's first parameter; defaults when it has none."""
    for p in model.parameters():
        return p.data.dtype, backend.xp_of(p.data)
    return np.dtype(backend.default_dtype()), np


def first_in_features(model: Module) -> int | None:
    """``in_features`` of the layer that sees the input first, when that is certain: the model
    itself (a bare Linear) or the first layer of a Sequential. Otherwise None (the probe in
    :func:`probe_width` still catches a mismatch)."""
    first = model
    while isinstance(first, Sequential) and len(first):
        first = first[0]
    n = getattr(first, "in_features", None)
    return int(n) if isinstance(n, numbers.Integral) and not isinstance(n, bool) else None


def probe_width(model: Module, X, name: str) -> int:
    """The model's output width, found by running it on the first row (eval mode, no graph).

    Eval mode draws no random numbers (dropout is off), so probing keeps runs reproducible.
    """
    try:
        with model.evaluating(), no_grad():
            out = model(Tensor._wrap(X[:1]))
    except DeltapropError as exc:
        raise ShapeError(
            f"{name}: the model cannot take rows of shape {tuple(X.shape[1:])}: {exc}"
        ) from None
    shape = out.shape if isinstance(out, Tensor) else getattr(out, "shape", None)
    if shape is None or len(shape) != 2:
        raise ShapeError(
            f"model: expected outputs of shape (n_samples, n_outputs), got {shape} for one row"
        )
    return int(shape[1])


def to_model(array, dtype, xp):
    """Cast once to the model's dtype and move to its device (no copy when it already fits)."""
    if xp is not backend.xp_of(array):
        array = xp.asarray(array)
    return array.astype(dtype, copy=False) if array.dtype.kind == "f" else array


def prepare_X(model: Module, X: Any, name: str) -> tuple[Any, int]:
    """Validated features in the model's dtype/device, and the model's output width."""
    X = check_features(X, name, allow_nd=True)
    n_features = first_in_features(model)
    if n_features is not None and X.ndim == 2 and X.shape[1] != n_features:
        raise ShapeError(
            f"{name}: expected {n_features} features (the model's input size), got {X.shape[1]}"
        )
    dtype, xp = model_dtype_and_xp(model)
    X = to_model(X, dtype, xp)
    return X, probe_width(model, X, name)


def prepare_y(y: Any, name: str, kind: str, n_out: int, n_rows: int, x_name: str, dtype, xp):
    """Targets shaped for the loss: int labels (N,) for softmax losses, floats (N, 1) for
    binary cross-entropy, floats (N, n_out) for regression."""
    if kind == "regression":
        y = check_targets(y, name)
        if y.shape[1] != n_out:
            raise ShapeError(
                f"{name}: expected {n_out} target column(s) (the model's output width), "
                f"got {y.shape[1]}"
            )
    elif kind == "bce":
        if n_out != 1:
            raise ShapeError(
                f"model: BCEWithLogitsLoss in the Trainer needs one output (binary "
                f"classification), got {n_out}; use CrossEntropyLoss for {n_out} classes"
            )
        y = check_labels(y, name, n_classes=2).reshape(-1, 1).astype(dtype)
    else:
        if n_out < 2:
            raise ShapeError(
                f"model: classification with {kind} needs one output per class (at least 2), "
                f"got {n_out}; use BCEWithLogitsLoss for one output"
            )
        y = check_labels(y, name, n_classes=n_out)
    if y.shape[0] != n_rows:
        raise DataError(
            f"{x_name} and {name}: expected the same number of rows, got {n_rows} and {y.shape[0]}"
        )
    return to_model(y, dtype, xp)


def unpack_validation(validation_data: Any) -> tuple[Any, Any]:
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        what = (
            f"a {type(validation_data).__name__} of length {len(validation_data)}"
            if isinstance(validation_data, (tuple, list))
            else type(validation_data).__name__
        )
        raise ConfigError(f"validation_data: expected a pair (X_val, y_val), got {what}")
    return validation_data[0], validation_data[1]


def check_batchnorm_batches(model, n: int, batch_size: int, descent: str, drop_last: bool) -> None:
    """Batch normalization cannot train on a batch of one row (its variance is 0): say so before
    the first step rather than fail in the middle of an epoch with some steps already taken."""
    if not any(isinstance(m, BatchNorm1d) for m in model.modules()):
        return
    if batch_size == 1:
        raise ConfigError(
            f"descent: BatchNorm1d needs at least 2 rows per batch in training, and "
            f"descent={descent!r} gives batches of 1; use 'minibatch' or LayerNorm"
        )
    if n % batch_size == 1 and not drop_last:
        raise ConfigError(
            f"batch_size: with {n} rows and batch_size={batch_size} the last batch has 1 row, "
            "which BatchNorm1d cannot normalize in training; pass drop_last=True or another "
            "batch_size"
        )


def check_loss(loss: Any, task: Any) -> tuple[Any, str, str]:
    """``(loss callable, task, reduction)``: a loss name built, its task checked against
    ``task`` (None takes the loss's own), its reduction one number per batch."""
    loss = get_loss(loss) if isinstance(loss, str) else loss
    if not callable(loss):
        raise ConfigError(f"loss: expected a loss Module or name, got {type(loss).__name__}")
    loss_task = getattr(loss, "task", None)
    if task is None:
        task = loss_task
        if task is None:
            raise ConfigError(
                f"task: {type(loss).__name__} does not say its task; pass "
                f"task='classification' or task='regression'"
            )
    if task not in TASKS:
        raise ConfigError(f"task: expected one of {list(TASKS)}, got {task!r}")
    if loss_task is not None and loss_task != task:
        raise ConfigError(f"task: {task!r} does not fit {type(loss).__name__}, a {loss_task} loss")
    reduction = getattr(loss, "reduction", "mean")
    if reduction not in ("mean", "sum"):
        raise ConfigError(
            f"loss: the Trainer needs a loss reduced to one number (reduction 'mean' or "
            f"'sum'), got reduction={reduction!r}"
        )
    return loss, task, reduction


def make_optimizer(optimizer: Any, lr: Any, model: Module) -> Optimizer | None:
    """An Optimizer, None, or one built from a name on the model's parameters with ``lr``
    (None: :func:`deltaprop.optim.default_lr` of that name)."""
    if isinstance(optimizer, str):
        return get_optimizer(optimizer, model.parameters(), lr=lr)
    if optimizer is not None and not isinstance(optimizer, Optimizer):
        raise ConfigError(
            f"optimizer: expected an Optimizer, a name or None, got {type(optimizer).__name__}"
        )
    if lr is not None:
        raise ConfigError("lr: only used when optimizer is a name; set it on the Optimizer")
    return optimizer
