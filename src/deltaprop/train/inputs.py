"""The Trainer's boundary: turn user arguments into validated arrays, or fail naming the argument.

Everything here runs before ``fit``/``evaluate``/``predict`` touch the model, so a bad call
changes nothing. The hot loop then trusts these arrays and never checks again.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from .. import backend
from ..autograd.tensor import Tensor
from ..config import no_grad
from ..data.checks import check_features, check_labels, check_targets
from ..data.loader import DESCENTS
from ..errors import ConfigError, DataError, DeltapropError, ShapeError
from ..nn.module import Module


def check_int(value: Any, name: str, minimum: int = 1) -> int:
    """An integer >= ``minimum`` (bools are not integers here), else ConfigError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ConfigError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name}: expected True or False, got {value!r}")
    return value


def check_real(value: Any, name: str, minimum: float = 0.0, strict: bool = False) -> float:
    """A finite real number >= ``minimum`` (> with ``strict``), as a float, else ConfigError."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < minimum or (strict and value == minimum):
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise ConfigError(f"{name}: expected a finite number {bound}, got {value!r}")
    return float(value)


def check_fraction(value: Any, name: str) -> float:
    """A number strictly between 0 and 1, else ConfigError."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok or not 0.0 < value < 1.0:
        raise ConfigError(f"{name}: expected a fraction in (0, 1), got {value!r}")
    return float(value)


def check_clip_norm(value: Any, name: str = "clip_norm") -> float:
    """A number > 0; ``math.inf`` allowed (clip_norm=inf measures without clipping)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(
            f"{name}: expected a number > 0 (math.inf to only measure), got {value!r}"
        )
    return float(value)


def check_scheduler(scheduler: Any, interval: Any, optimizer: Any) -> str:
    if interval not in ("epoch", "step"):
        raise ConfigError(f"scheduler_interval: expected 'epoch' or 'step', got {interval!r}")
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


def check_descent(descent: Any) -> str:
    key = descent.strip().lower() if isinstance(descent, str) else None
    if key not in DESCENTS:
        raise ConfigError(f"descent: expected one of {list(DESCENTS)}, got {descent!r}")
    return key


def check_batch_size(batch_size: Any, name: str = "batch_size") -> int | None:
    """None or an integer >= 1."""
    return None if batch_size is None else check_int(batch_size, name)


def module_modes(model: Module) -> list[tuple[Module, bool]]:
    """Every module's train/eval flag, to put back with :func:`restore_modes`."""
    return [(m, m.training) for m in model.modules()]


def restore_modes(modes: list[tuple[Module, bool]]) -> None:
    for m, flag in modes:
        object.__setattr__(m, "training", flag)


def model_dtype_and_xp(model: Module):
    """(float dtype, array module) of the model's first parameter; defaults when it has none."""
    for p in model.parameters():
        return p.data.dtype, backend.xp_of(p.data)
    import numpy as np

    return np.dtype(backend.default_dtype()), np


def first_in_features(model: Module) -> int | None:
    """``in_features`` of the layer that sees the input first, when that is certain: the model
    itself (a bare Linear) or the first layer of a Sequential. Otherwise None (the probe in
    :func:`probe_width` still catches a mismatch)."""
    from ..nn.module import Sequential

    first = model
    while isinstance(first, Sequential) and len(first):
        first = first[0]
    n = getattr(first, "in_features", None)
    return int(n) if isinstance(n, numbers.Integral) and not isinstance(n, bool) else None


def probe_width(model: Module, X, name: str) -> int:
    """The model's output width, found by running it on the first row (eval mode, no graph).

    Eval mode draws no random numbers (dropout is off), so probing keeps runs reproducible.
    """
    modes = module_modes(model)
    try:
        model.eval()
        with no_grad():
            out = model(Tensor._wrap(X[:1]))
    except DeltapropError as exc:
        raise ShapeError(
            f"{name}: the model cannot take rows of shape {tuple(X.shape[1:])}: {exc}"
        ) from None
    finally:
        restore_modes(modes)
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
    from ..nn.normalization import BatchNorm1d

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
