"""A run's data: :func:`load_data` loads ``recipe.dataset``, splits off the test part and fits
the preprocessing on the training part, into a :class:`RunData`. CSV files go through the
:class:`~deltaprop.data.Preprocessor` by column name; images are scaled per channel and given
as (n, C, H, W) to the models that take them (:mod:`.images`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..data import (
    DATASETS,
    Dataset,
    Preprocessor,
    Standardizer,
    as_images,
    load_dataset,
    train_test_split,
)
from ..data.columns import guess_task, refuse_missing, refuse_outside_float32
from ..data.files import label_column, read_table
from ..data.scarce import labeled_per_class
from ..errors import ConfigError, DataError, DeltapropError
from ..names import normalize
from .images import channel_scaler, needs_images_error, wants_images
from .spec import Recipe

#: Keys whose errors already name themselves (not wrapped in "dataset: ...").
CSV_KEYS = ("task", "label", "drop", "delimiter", "impute", "test_size")


@dataclass
class RunData:
    """A data set split for a run: the stratified (for classification) train/test split, both
    passed through ``prep`` (a :class:`~deltaprop.data.Preprocessor` fitted on the training
    part only: encoders, imputer, feature scaling, label classes or target scaling).

    ``X_train`` (n_train, n_in), ``X_test`` (n_test, n_in) -- or, for a model that takes
    images (a cnn), (n, C, H, W) views of them; ``y_*`` (n,) labels 0..k-1 or
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
    #: (n_unlabeled, ...) the training rows whose labels ``labels_per_class`` dropped (X_train
    #: and y_train then hold the labeled rows only); None when every training row is labeled.
    X_unlabeled: np.ndarray | None = None

    @property
    def task(self) -> str:
        """``"classification"`` or ``"regression"``."""
        return "classification" if self.classification else "regression"

    @property
    def n_in(self) -> int:
        """Features per row (C*H*W for images)."""
        return int(np.prod(self.X_train.shape[1:]))

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One row as the model takes it: ``(n_in,)``, or ``(C, H, W)`` for image inputs."""
        return tuple(int(s) for s in self.X_train.shape[1:])

    @property
    def image_shape(self) -> tuple[int, int, int] | None:
        """(C, H, W) when the rows are images, else None. ``X_train``/``X_test`` stay flat for
        an MLP, and are (n, C, H, W) views for a model that takes images."""
        return self.ds.image_shape


def load_data(recipe: Recipe) -> RunData:
    """Load ``recipe.dataset`` and split it (:func:`load_split`); with ``labels_per_class``,
    keep that many labeled training rows per class and move the others' features to
    ``X_unlabeled`` (:func:`keep_labels`). The preprocessing is fitted on the whole training
    part, labeled or not: the features of the unlabeled rows are known."""
    data = load_split(recipe)
    return data if recipe.labels_per_class is None else keep_labels(recipe, data)


def keep_labels(recipe: Recipe, data: RunData) -> RunData:
    """``data`` with K = ``labels_per_class`` labeled training rows per class (chosen by
    ``seed``, :func:`~deltaprop.data.scarce.labeled_per_class`), the other training rows
    unlabeled; the test part is untouched.

    Raises:
        ConfigError: naming ``labels_per_class``: a regression task, or K larger than the
            training rows of the smallest class (the message names the class and its rows).
    """
    if not data.classification:
        raise ConfigError(
            f"{recipe.show('labels_per_class')}: keeps labeled rows per class, and "
            f"{data.ds.name} is a regression task; drop the option"
        )
    names = data.ds.target_names or [str(i) for i in range(data.n_out)]
    labeled, unlabeled = labeled_per_class(data.y_train, recipe.labels_per_class, recipe.seed,
                                           recipe.show("labels_per_class"), names)  # fmt: skip
    return replace(data, X_train=data.X_train[labeled], y_train=data.y_train[labeled],
                   X_unlabeled=data.X_train[unlabeled])  # fmt: skip


def load_split(recipe: Recipe) -> RunData:
    """Load ``recipe.dataset``, split off ``test_size`` (stratified for classification, seeded
    by ``seed``) and fit the preprocessing on the training part: a CSV file's columns (minus
    ``drop``) are encoded by the :class:`~deltaprop.data.Preprocessor` (text one-hot, missing
    values refused or imputed), labels mapped to 0..k-1, features and regression targets
    standardized. A model that takes images (``model = "cnn"``, an ``architecture`` with image
    layers) gets X as (n, C, H, W) views, scaled per channel (:mod:`.images`)."""
    if is_csv(recipe.dataset):
        return _csv_rows(recipe)
    try:
        if recipe.task is not None and normalize(recipe.dataset) in DATASETS:
            raise ConfigError(
                f"{recipe.show('task')}: only applies to data files, got it for the built-in "
                f"{recipe.dataset!r}"
            )
        ds = load_dataset(recipe.dataset, label=recipe.label, seed=recipe.seed, task=recipe.task)
    except DeltapropError as exc:
        raise _named(recipe, exc) from None
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
    images = wants_images(recipe)
    if images:
        if ds.image_shape is None:
            raise needs_images_error(recipe, ds.name, ds.X.shape[1])
        prep.x_scaler = channel_scaler(X_train, ds.image_shape)
    X_train, X_test = prep.transform(X_train), prep.transform(X_test)
    if images:  # views; as_images checks the shape (and warns once if it looks channels-last)
        X_train = as_images(X_train, ds.image_shape, ds.name)
        X_test = X_test.reshape(len(X_test), *X_train.shape[1:])
    if not classification:
        y_train, y_test = prep.encode(y_train), prep.encode(y_test)
    n_out = ds.n_classes if classification else (1 if ds.y.ndim == 1 else ds.y.shape[1])
    return RunData(ds, X_train, X_test, y_train, y_test, prep.x_scaler, classification, n_out,
                   prep)  # fmt: skip


def _named(recipe: Recipe, exc: DeltapropError) -> DeltapropError:
    """A data error named by the option the user typed: its own, or ``dataset``."""
    if str(exc).startswith(tuple(recipe.show(k) + ":" for k in CSV_KEYS)):
        return exc  # already names the option
    return type(exc)(f"{recipe.show('dataset')}: {exc}")


def _csv_rows(recipe: Recipe) -> RunData:
    """A CSV file's rows (tabular: no model that takes images can use them)."""
    try:
        data = _load_csv(recipe)
    except DeltapropError as exc:
        raise _named(recipe, exc) from None
    if wants_images(recipe):
        raise needs_images_error(recipe, recipe.dataset, data.n_in)
    return data


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
