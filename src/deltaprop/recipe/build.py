"""From a :class:`~deltaprop.recipe.Recipe` to the things a run is made of: the data, the
model, the optimizer, the schedule, the callbacks and the Trainer.

Each ``build_*`` makes a fresh object (cross-validation calls :func:`build_trainer` once per
fold). Strings stop here: the recipe's names become modules, optimizers and schedules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import nn, optim
from ..checks import check_choice
from ..data import Dataset, Standardizer, load_dataset, train_test_split
from ..errors import ConfigError, DeltapropError
from ..train import Trainer, callbacks
from .spec import Recipe

TASKS = ("classification", "regression")
Log = Callable[[str], None]
STALL_PATIENCE = 5  # epochs at chance (or with a loss that does not fall) before the warning


@dataclass
class RunData:
    """A data set split for a run: the stratified (for classification) train/test split, both
    standardized with ``scaler``, fitted on the training part only.

    ``X_train`` (n_train, n_in), ``X_test`` (n_test, n_in); ``y_*`` (n,) labels 0..k-1 or
    (n,) / (n, n_out) regression targets; ``n_out`` = classes or target columns."""

    ds: Dataset
    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    scaler: Standardizer
    classification: bool
    n_out: int

    @property
    def task(self) -> str:
        """``"classification"`` or ``"regression"``."""
        return "classification" if self.classification else "regression"

    @property
    def n_in(self) -> int:
        return int(self.X_train.shape[1])


def load_data(recipe: Recipe) -> RunData:
    """Load ``recipe.dataset``, split off ``test_size`` (stratified for classification, seeded
    by ``seed``) and standardize with statistics of the training part."""
    try:
        ds = load_dataset(recipe.dataset, label=recipe.label, seed=recipe.seed)
    except DeltapropError as exc:
        raise type(exc)(f"{recipe.show('dataset')}: {exc}") from None
    classification = ds.task == "classification"
    check_test_part(recipe, ds)
    X_train, X_test, y_train, y_test = train_test_split(
        ds.X, ds.y, test_size=recipe.test_size, stratify=classification, seed=recipe.seed
    )
    scaler = Standardizer()
    X_train = scaler.fit_transform(X_train)
    X_test = scaler.transform(X_test)
    n_out = ds.n_classes if classification else (1 if ds.y.ndim == 1 else ds.y.shape[1])
    return RunData(ds, X_train, X_test, y_train, y_test, scaler, classification, n_out)


def build_model(recipe: Recipe, n_in: int, n_out: int) -> nn.Sequential:
    """The recipe's MLP (:func:`deltaprop.nn.mlp`): (N, n_in) -> (N, n_out) logits."""
    norm = "batchnorm" if recipe.batchnorm else "layernorm" if recipe.layernorm else None
    return nn.mlp(n_in, recipe.hidden, n_out, recipe.activation, recipe.init,
                  dropout=recipe.dropout, norm=norm)  # fmt: skip


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


def build_callbacks(recipe: Recipe, log: Log | None = print) -> list[callbacks.Callback]:
    """EarlyStopping (restoring the best weights) and ReduceLROnPlateau (factor 0.1, patience
    ``max(2, epochs // 10)``) as the recipe asks, watching ``val_loss`` when there is a
    validation split, else ``loss``; and a StallWarning, which sends to ``log`` (None: kept
    in its ``warned`` only) a line with the likely cause when the run is not learning.

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
    return out


def build_trainer(
    recipe: Recipe, n_in: int, n_out: int, task: str, log: Log | None = print
) -> Trainer:
    """A fresh model, optimizer, schedule and callbacks in a Trainer: cross-entropy and
    accuracy for ``task="classification"``, MSE for ``"regression"``. ``log``: where the
    StallWarning's line goes (see :func:`build_callbacks`)."""
    classification = check_choice(task, TASKS, "task") == "classification"
    model = build_model(recipe, n_in, n_out)
    optimizer = build_optimizer(recipe, model.parameters())
    return Trainer(
        model,
        loss=nn.CrossEntropyLoss() if classification else nn.MSELoss(),
        optimizer=optimizer,
        metrics=["accuracy"] if classification else [],
        callbacks=build_callbacks(recipe, log),
        scheduler=build_schedule(recipe, optimizer),
        clip_norm=recipe.clip_norm,
        clip_value=recipe.clip_value,
        l1=recipe.l1,
        l2=recipe.l2,
    )


def fit_kwargs(recipe: Recipe) -> dict[str, Any]:
    """The recipe's keyword arguments of :meth:`Trainer.fit` (verbosity and files aside)."""
    return {
        "epochs": recipe.epochs, "descent": recipe.descent, "batch_size": recipe.batch_size,
        "log_every": recipe.log_every, "seed": recipe.seed,
        "validation_split": recipe.validation_split or None, "drop_last": recipe.drop_last,
    }  # fmt: skip


def check_test_part(recipe: Recipe, ds: Any) -> None:
    """Refuse a test part too small to score: fewer test rows than classes (xor's 4 rows give
    1 test row, scored 0 or 1 by chance, and a truth table cannot be learned without the row
    held out)."""
    n = len(ds.y)
    n_test = int(np.ceil(recipe.test_size * n))
    if ds.task != "classification" or n_test >= ds.n_classes or n_test >= n:
        return
    why = f"; use a larger {recipe.show('test_size')} or more rows"
    if ds.n_classes * 5 > n:  # hundreds of "classes" in a few hundred rows: a quantity
        why = (f" ({ds.n_classes} distinct target values in {n} rows: is the target a "
               "quantity, to be predicted by regression?)")  # fmt: skip
    if ds.name == "xor":
        why = (
            " (xor is its 4-row truth table: a row held out cannot be learned from the "
            "others, so it has no test part; train it with dp.Trainer on all 4 rows)"
        )
    raise ConfigError(
        f"{recipe.show('test_size')}: {recipe.test_size:g} of {n} rows is {n_test} test "
        f"row{'s' if n_test != 1 else ''}, fewer than the {ds.n_classes} classes: too few to "
        f"score{why}"
    )
