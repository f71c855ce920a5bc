"""From a :class:`~deltaprop.recipe.Recipe` to the things a run is made of: the data, the
model, the optimizer, the schedule, the callbacks and the Trainer.

Each ``build_*`` makes a fresh object (cross-validation calls :func:`build_trainer` once per
fold). Strings stop here: the recipe's names become modules, optimizers and schedules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import nn, optim
from ..checks import check_choice
from ..data import DATASETS, Dataset, Preprocessor, Standardizer, load_dataset, train_test_split
from ..data.columns import guess_task, refuse_missing, refuse_outside_float32
from ..data.files import label_column, read_table
from ..errors import ConfigError, DataError, DeltapropError
from ..names import normalize
from ..train import Trainer, callbacks
from .augmentation import build_augment
from .class_weight import class_weights
from .spec import Recipe

TASKS = ("classification", "regression")
Log = Callable[[str], None]
STALL_PATIENCE = 5  # epochs at chance (or with a loss that does not fall) before the warning
#: Keys whose errors already name themselves (not wrapped in "dataset: ...").
CSV_KEYS = ("task", "label", "drop", "delimiter", "impute", "test_size")


@dataclass
class RunData:
    """A data set split for a run: the stratified (for classification) train/test split, both
    passed through ``prep`` (a :class:`~deltaprop.data.Preprocessor` fitted on the training
    part only: encoders, imputer, feature scaling, label classes or target scaling).

    ``X_train`` (n_train, n_in), ``X_test`` (n_test, n_in); ``y_*`` (n,) labels 0..k-1 or
    (n,) / (n, n_out) standardized regression targets; ``n_out`` = classes or target columns;
    ``task_note`` says how the task was guessed (None when it was given or known)."""

    ds: Dataset
    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    scaler: Standardizer
    classification: bool
    n_out: int
    prep: Preprocessor | None = None
    task_note: str | None = None

    @property
    def task(self) -> str:
        """``"classification"`` or ``"regression"``."""
        return "classification" if self.classification else "regression"

    @property
    def n_in(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def image_shape(self) -> tuple[int, int, int] | None:
        """(C, H, W) when the rows are images, else None. ``X_train``/``X_test`` stay flat for
        an MLP; a CNN takes ``deltaprop.data.as_images(X_train, image_shape)`` (a view)."""
        return self.ds.image_shape


def load_data(recipe: Recipe) -> RunData:
    """Load ``recipe.dataset``, split off ``test_size`` (stratified for classification, seeded
    by ``seed``) and fit the preprocessing on the training part: a CSV file's columns (minus
    ``drop``) are encoded by the :class:`~deltaprop.data.Preprocessor` (text one-hot, missing
    values refused or imputed), labels mapped to 0..k-1, features and regression targets
    standardized."""
    try:
        if is_csv(recipe.dataset):
            return _load_csv(recipe)
        if recipe.task is not None and normalize(recipe.dataset) in DATASETS:
            raise ConfigError(
                f"{recipe.show('task')}: only applies to data files, got it for the built-in "
                f"{recipe.dataset!r}"
            )
        ds = load_dataset(recipe.dataset, label=recipe.label, seed=recipe.seed, task=recipe.task)
    except DeltapropError as exc:
        if str(exc).startswith(tuple(recipe.show(k) + ":" for k in CSV_KEYS)):
            raise  # already names the option
        raise type(exc)(f"{recipe.show('dataset')}: {exc}") from None
    classification = ds.task == "classification"
    if classification:
        _two_classes(ds.target_names or [str(v) for v in np.unique(ds.y)], ds.name, recipe)
    if classification:
        check_test_part(recipe, len(ds.y), ds.n_classes, ds.name)
    X_train, X_test, y_train, y_test = train_test_split(
        ds.X, ds.y, test_size=recipe.test_size, stratify=classification, seed=recipe.seed
    )
    prep = Preprocessor(ds.task)
    classes = ds.target_names or [str(i) for i in range(ds.n_classes or 0)]
    prep.fit(X_train, y_train, ds.feature_names, classes=classes if classification else None)
    X_train, X_test = prep.transform(X_train), prep.transform(X_test)
    if not classification:
        y_train, y_test = prep.encode(y_train), prep.encode(y_test)
    n_out = ds.n_classes if classification else (1 if ds.y.ndim == 1 else ds.y.shape[1])
    return RunData(ds, X_train, X_test, y_train, y_test, prep.x_scaler, classification, n_out,
                   prep)  # fmt: skip


def _load_csv(recipe: Recipe) -> RunData:
    """A CSV file through the Preprocessor: labels (all rows) -> classes, split, fit on the
    training part, transform both parts."""
    path = recipe.dataset
    header, cells = read_table(Path(path), recipe.delimiter)
    col = label_column(header, recipe.label, recipe.show("label"))
    dropped = [c.strip() for c in (recipe.drop or "").split(",") if c.strip()]
    for c in dropped:
        if c not in header or c == header[col]:
            raise ConfigError(
                f"{recipe.show('drop')}: expected feature columns of {path} "
                f"({', '.join(h for h in header if h != header[col])}), got {c!r}"
            )
    feats = [j for j, h in enumerate(header) if j != col and h not in dropped]
    if not feats:
        raise ConfigError(f"{recipe.show('drop')}: no feature column is left in {path}")
    X_raw, y_raw = cells[:, feats], cells[:, col]
    if recipe.impute is None:  # before the split, so the rows named are the file's
        refuse_missing(X_raw, [header[j] for j in feats], path)
    refuse_outside_float32(X_raw, [header[j] for j in feats], path)
    note = None
    task = recipe.task
    if task is None:
        task, why = guess_task(y_raw, recipe.show("task"))
        note = f"task: {task} ({why}; set {recipe.show('task')} to choose)"
    # numeric labels too: a class label -1e309 would become the class "-inf"
    refuse_outside_float32(y_raw, [header[col]], path)
    prep = Preprocessor(task, recipe.impute)
    prep.reason = note or "given"
    classification = task == "classification"
    if classification:
        prep.label = header[col]
        y_all = prep.fit_classes(y_raw).encode(y_raw, f"label {header[col]!r}")
        _two_classes(prep.class_names or [], f"{path}: label column {header[col]!r}", recipe)
        check_test_part(recipe, len(y_all), len(prep.class_names or []), path)
    else:
        y_all = np.arange(len(y_raw))  # placeholder: targets are scaled after the split
    idx = np.arange(len(cells))
    tr, te, _, _ = train_test_split(idx, y_all, test_size=recipe.test_size,
                                    stratify=classification, seed=recipe.seed)  # fmt: skip
    names = [header[j] for j in feats]
    prep.fit(X_raw[tr], y_raw[tr], names, label=header[col], task_name=recipe.show("task"))
    X_train, X_test = prep.transform(X_raw[tr]), prep.transform(X_raw[te])
    y_train, y_test = prep.encode(y_raw[tr]), prep.encode(y_raw[te])
    y_ds = y_all if classification else prep.targets(y_raw)[:, 0]
    ds = Dataset(
        prep.transform(X_raw), y_ds, task, prep.n_outputs, prep.input_names,
        prep.class_names, path,
    )  # fmt: skip
    n_out = prep.n_outputs if classification else 1
    return RunData(ds, X_train, X_test, y_train, y_test, prep.x_scaler, classification,
                   int(n_out or 1), prep, note)  # fmt: skip


def _two_classes(classes: list[str], where: str, recipe: Recipe) -> None:
    """A classifier needs two classes at least; one is a data problem, not a loss to pick."""
    if len(classes) < 2:
        raise DataError(
            f"{where}: expected at least 2 classes to learn, got 1 ({classes[0]!r} in every "
            f"row); for a numeric target give {recipe.show('task')} regression"
        )


def is_csv(dataset: str) -> bool:
    """A ``.csv`` path (built-in names never end so)."""
    return str(dataset).lower().endswith(".csv")


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
    recipe: Recipe, n_in: int, n_out: int, task: str, log: Log | None = print, y_train: Any = None
) -> Trainer:
    """A fresh model, optimizer, schedule and callbacks in a Trainer: cross-entropy and
    accuracy for ``task="classification"``, MSE for ``"regression"``. ``log``: where the
    StallWarning's line goes (see :func:`build_callbacks`). ``y_train``: the training labels
    (N,) in 0..n_out-1, needed by ``class_weight="balanced"`` (see :func:`class_weights`)."""
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
    model = build_model(recipe, n_in, n_out)
    optimizer = build_optimizer(recipe, model.parameters())
    return Trainer(
        model,
        loss=loss,
        optimizer=optimizer,
        metrics=["accuracy"] if classification else [],
        callbacks=build_callbacks(recipe, log),
        scheduler=build_schedule(recipe, optimizer),
        clip_norm=recipe.clip_norm,
        clip_value=recipe.clip_value,
        l1=recipe.l1,
        l2=recipe.l2,
    )


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


def check_test_part(recipe: Recipe, n: int, n_classes: int, name: str) -> None:
    """Refuse a test part too small to score: fewer test rows than classes (xor's 4 rows give
    1 test row, scored 0 or 1 by chance, and a truth table cannot be learned without the row
    held out)."""
    n_test = int(np.ceil(recipe.test_size * n))
    if n_test >= n_classes or n_test >= n:
        return
    why = f"; use a larger {recipe.show('test_size')} or more rows"
    if n_classes * 5 > n:  # hundreds of "classes" in a few hundred rows: a quantity
        why = (f" ({n_classes} distinct target values in {n} rows: is the target a "
               "quantity, to be predicted by regression?)")  # fmt: skip
    if name == "xor":
        why = (
            " (xor is its 4-row truth table: a row held out cannot be learned from the "
            "others, so it has no test part; train it with dp.Trainer on all 4 rows)"
        )
    raise ConfigError(
        f"{recipe.show('test_size')}: {recipe.test_size:g} of {n} rows is {n_test} test "
        f"row{'s' if n_test != 1 else ''}, fewer than the {n_classes} classes: too few to "
        f"score{why}"
    )
