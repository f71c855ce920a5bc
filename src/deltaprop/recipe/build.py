"""From a :class:`~deltaprop.recipe.Recipe` to the things a run is made of: the data
(:mod:`.rundata`, re-exported here), the model (:mod:`.models`), the optimizer, the schedule,
the callbacks and the Trainer.

Each ``build_*`` makes a fresh object (cross-validation calls :func:`build_trainer` once per
fold). Strings stop here: the recipe's names become modules, optimizers and schedules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import nn, optim, report
from ..checks import check_choice, require
from ..errors import ConfigError
from ..train import Trainer, callbacks
from ..train.callbacks.mlflow_logger import tracking_store
from ..train.callbacks.tensorboard import check_log_dir
from ..train.validation import split_off
from .augmentation import build_augment
from .class_weight import class_weights
from .models import build_model
from .rundata import RunData, check_test_part, is_csv, load_data
from .spec import Recipe
from .transfer import param_groups, prepare_model

__all__ = [
    "RunData", "build_callbacks", "build_model", "build_optimizer", "build_schedule",
    "build_trainer", "check_test_part", "check_tracking", "fit_kwargs", "is_csv", "load_data",
    "trainer_options", "validation_part",
]  # fmt: skip

TASKS = ("classification", "regression")
Log = Callable[[str], None]
STALL_PATIENCE = 5  # epochs at chance (or with a loss that does not fall) before the warning


def build_optimizer(recipe: Recipe, params: Any) -> optim.Optimizer:
    """The named optimizer; ``lr=None`` takes :func:`deltaprop.optim.default_lr` of its name
    and the recipe's descent mode (batch size 1 needs a smaller rate than minibatch)."""
    options: dict[str, Any] = {}
    if recipe.momentum is not None:
        options["momentum"] = recipe.momentum
    if recipe.weight_decay:
        options["weight_decay"] = recipe.weight_decay
    lr = optim.default_lr(recipe.optimizer, recipe.descent) if recipe.lr is None else recipe.lr
    return optim.get_optimizer(recipe.optimizer, params, lr=lr, **options)


def build_schedule(recipe: Recipe, optimizer: optim.Optimizer) -> optim.LRScheduler | None:
    """The per-epoch schedule with its warm-up, or None. ``"plateau"`` is a callback (see
    :func:`build_callbacks`); alone, a warm-up ramps linearly from 10% to the full rate."""
    if recipe.schedule in ("none", "plateau"):
        if recipe.warmup:
            return optim.LinearLR(optimizer, start_factor=0.1, total_iters=recipe.warmup)
        return None
    return optim.get_schedule(recipe.schedule, optimizer, recipe.epochs, warmup=recipe.warmup)


def build_callbacks(
    recipe: Recipe, log: Log | None = print, tracking: bool = True
) -> list[callbacks.Callback]:
    """EarlyStopping (restoring the best weights) and ReduceLROnPlateau (factor 0.1, patience
    ``max(2, epochs // 10)``) as the recipe asks, watching ``val_loss`` when there is a
    validation split, else ``loss``; and a StallWarning, which sends to ``log`` (None: kept
    in its ``warned`` only) a line with the likely cause when the run is not learning.
    With ``tracking`` (not for the folds of a cross-validation), the experiment trackers
    the recipe names: TensorBoard into ``tensorboard``, an MLflowLogger (``mlflow``) with
    the recipe's settings as its parameters.

    The StallWarning is left out of runs that write or resume a checkpoint: a checkpoint
    records the Trainer's callbacks and resuming needs the same list, so files written before
    this callback existed (and those written with it) must meet the list they were made with."""
    monitor = "val_loss" if recipe.validation_split else "loss"
    out: list[callbacks.Callback] = []
    if recipe.early_stopping is not None:
        out.append(
            callbacks.EarlyStopping(
                monitor=monitor, patience=recipe.early_stopping, restore_best_weights=True
            )
        )
    if recipe.schedule == "plateau":
        patience = max(2, recipe.epochs // 10)
        out.append(callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.1, patience=patience))
    if recipe.checkpoint is None and recipe.resume is None:
        out.append(callbacks.StallWarning(patience=STALL_PATIENCE, log=log, show=recipe.show))
    if tracking and recipe.tensorboard is not None:
        out.append(callbacks.TensorBoard(recipe.tensorboard))
    if tracking and recipe.mlflow:
        out.append(callbacks.MLflowLogger(params=recipe.to_dict()))
    return out


def check_tracking(recipe: Recipe) -> None:
    """Before any work: the trackers the recipe names are installed and their folders can be
    written (``tensorboard``; ``./mlruns`` for ``mlflow`` unless MLFLOW_TRACKING_URI is set),
    or a ConfigError naming the key."""
    if recipe.tensorboard is not None:
        require("tensorboardX", "tensorboard", recipe.show("tensorboard"))
        check_log_dir(recipe.tensorboard, recipe.show("tensorboard"))
    if recipe.mlflow:
        require("mlflow", "mlflow", recipe.show("mlflow"))
        tracking_store(None, recipe.show("mlflow"))


def build_trainer(
    recipe: Recipe,
    n_in: int | tuple[int, ...],
    n_out: int,
    task: str,
    log: Log | None = print,
    y_train: Any = None,
    model: nn.Module | None = None,
    tracking: bool = True,
) -> Trainer:
    """A fresh model (:func:`build_model`: ``n_in`` is features per row, or the one-row shape
    :attr:`RunData.input_shape`, ``(C, H, W)`` for a cnn), optimizer, schedule and callbacks
    in a Trainer: cross-entropy and
    accuracy for ``task="classification"``, MSE for ``"regression"``. ``log``: where the
    StallWarning's line goes, ``tracking``: whether to add the experiment trackers (see
    :func:`build_callbacks`). ``y_train``: the training labels (N,) in 0..n_out-1, needed by
    ``class_weight="balanced"`` (see :func:`class_weights`). ``model``: train this model
    instead of a fresh one (a scikit-learn estimator's, after unpickling)."""
    if recipe.teacher is not None:  # deltaprop.distill builds its own (a Distiller)
        raise ConfigError(
            f"{recipe.show('teacher')}: only a distillation run trains with a teacher: "
            "`deltaprop distill` (Python: deltaprop.distill.distill_run); train and diagnose "
            "do not"
        )
    classification = check_choice(task, TASKS, "task") == "classification"
    if classification:
        loss: nn.Loss = nn.CrossEntropyLoss(weight=class_weights(recipe, n_out, y_train))
    elif recipe.class_weight is not None:
        raise ConfigError(
            f"{recipe.show('class_weight')}: class weights need a classification task, got "
            "regression (drop the option, or give a class label)"
        )
    else:
        loss = nn.MSELoss()
    if model is None:
        model = build_model(recipe, n_in, n_out)
        prepare_model(recipe, model)  # init_from, freeze
    options = trainer_options(recipe, model, log, tracking)
    return Trainer(model, loss=loss, metrics=["accuracy"] if classification else [], **options)


def trainer_options(
    recipe: Recipe, model: nn.Module, log: Log | None = print, tracking: bool = True
) -> dict[str, Any]:
    """The keyword arguments of a run's Trainer that the recipe decides, besides the model,
    the loss and the metrics: the optimizer (on :func:`~.transfer.param_groups`), callbacks,
    schedule, clipping, penalties, ``compile``, ``distributed`` and ``device``. Every Trainer a
    run builds takes them from here (:func:`build_trainer`, the distillation run's
    Distiller), so that no recipe key reaches one and is silently left out of another."""
    optimizer = build_optimizer(recipe, param_groups(recipe, model))
    return {
        "optimizer": optimizer, "callbacks": build_callbacks(recipe, log, tracking),
        "scheduler": build_schedule(recipe, optimizer), "clip_norm": recipe.clip_norm,
        "clip_value": recipe.clip_value, "l1": recipe.l1, "l2": recipe.l2,
        "compile": recipe.compile, "lanes": recipe.lanes, "distributed": recipe.distributed,
        "device": None if recipe.device == "cpu" else recipe.device,
    }  # fmt: skip


def fit_kwargs(recipe: Recipe, data: RunData | None = None) -> dict[str, Any]:
    """The recipe's keyword arguments of :meth:`Trainer.fit` (verbosity and files aside);
    with ``augment``, ``data`` gives the augmentation what it needs (:func:`build_augment`)."""
    kwargs: dict[str, Any] = {
        "epochs": recipe.epochs, "descent": recipe.descent, "batch_size": recipe.batch_size,
        "log_every": recipe.log_every, "seed": recipe.seed,
        "validation_split": recipe.validation_split or None, "drop_last": recipe.drop_last,
    }  # fmt: skip
    if recipe.augment is not None:
        if data is None:
            raise ConfigError(
                f"{recipe.show('augment')}: needs the run's data (fit_kwargs(r, data))"
            )
        kwargs["augment"] = build_augment(recipe, data)
    return kwargs


def validation_part(recipe: Recipe, data: RunData) -> tuple[Any, Any] | None:
    """The rows of ``data``'s training part that ``fit``'s ``validation_split`` holds out
    (the same rows, chosen the same way), as ``(X_val, y_val)``; None without a split. A
    search scores its trials on them, and ``run`` reports the final model's scores there."""
    if not recipe.validation_split:
        return None
    # the fit's own split, made again: what it had to say ("cannot stratify") was said there
    with report.quiet():
        _, _, val = split_off(data.X_train, data.y_train, recipe.validation_split, data.task)
    return val
