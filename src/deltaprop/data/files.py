"""Data files as :class:`~deltaprop.data.dataset.Dataset`: CSV (a header row, one label
column), NPZ (arrays ``X`` and ``y``) and MNIST-style IDX (optionally gzip-compressed); and
folders: MNIST's IDX files (:mod:`.mnist`) or images per class (:mod:`.image_folder`)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from ..io.files import check_regular_file
from .checks import infer_task
from .columns import guess_task, label_name, refuse_outside_float32
from .dataset import Dataset, build_dataset
from .idx import load_idx
from .image_folder import read_image_folder
from .images import image_feature_names
from .mnist import idx_labels_next_to, mnist_files, read_mnist_folder
from .npz import read_npz


def read_table(path: Path, delimiter: str | None = None) -> tuple[list[str], np.ndarray]:
    """A CSV file as ``(header, cells)``: the column names and a (n_rows, n_columns) array of
    the cells as text (stripped). ``delimiter`` defaults to ``","``; a file whose header holds
    one column with ``;``, tab or ``|`` in it gets a message that names ``--delimiter``."""
    sep = "," if delimiter is None else delimiter
    if len(sep) != 1:
        raise ConfigError(f"delimiter: expected one character, got {delimiter!r}")
    check_regular_file(path, "data file", error=DataError)  # a FIFO would block forever
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [(i, row) for i, row in enumerate(csv.reader(f, delimiter=sep), start=1) if row]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read the CSV file ({exc})") from exc
    if len(rows) < 2:
        raise DataError(f"{path}: expected a header row and at least one data row")
    header = [h.strip() for h in rows[0][1]]
    if len(header) < 2:
        other = next((c for c in ";\t|," if c != sep and c in rows[0][1][0]), None)
        hint = (f"; the header holds {other!r}: pass --delimiter {other!r}" if other
                else f" (delimiter {sep!r}; pass --delimiter for another)")  # fmt: skip
        raise DataError(
            f"{path}: expected at least one feature column and a label column, got one "
            f"column {header[0][:40]!r}{hint}"
        )
    if all(_is_number(h) for h in header):
        raise DataError(f"{path}: expected a header row of column names, got numbers {header[:5]}")
    for r, (line, row) in enumerate(rows[1:], start=1):
        if len(row) != len(header):
            raise DataError(
                f"{path}: row {r} (line {line}): expected {len(header)} fields, got {len(row)}"
            )
    cells = np.array([[c.strip() for c in row] for _, row in rows[1:]], dtype=str)
    return header, cells.reshape(len(rows) - 1, len(header))


def label_column(header: list[str], label: str | None, name: str = "label") -> int:
    """The index of the label column: ``label`` by name, else the last column."""
    if label is None:
        return len(header) - 1
    if label not in header:
        raise ConfigError(f"{name}: expected one of the columns {header}, got {label!r}")
    return header.index(label)


def _read_csv(path: Path, label: str | None, task: str | None) -> Dataset:
    header, cells = read_table(path)
    col = label_column(header, label)
    feat_cols = [j for j in range(len(header)) if j != col]
    values = np.zeros((len(cells), len(feat_cols)))
    for k, j in enumerate(feat_cols):
        try:
            values[:, k] = cells[:, j].astype(np.float64)
        except ValueError:  # find the culprit only on the slow path
            r = next(r for r, c in enumerate(cells[:, j]) if not _is_number(c))
            raise DataError(
                f"{path}: row {r + 1} (line {r + 2}), column {header[j]!r}: "
                f"expected a number, got {str(cells[r, j])!r}"
            ) from None
    refuse_outside_float32(cells[:, feat_cols], [header[j] for j in feat_cols], str(path))
    labels = list(cells[:, col])
    if "" in labels:
        r = labels.index("") + 1
        raise DataError(f"{path}: row {r}, column {header[col]!r}: the label is empty")
    y: np.ndarray = np.array(labels)
    names = None
    if task is None:
        task = guess_task(y)[0]  # the same guess as the recipe: "151.0" x 300 is regression
    if task == "regression":
        refuse_outside_float32(cells[:, [col]], [header[col]], str(path))
    if all(map(_is_number, labels)):
        y, names = numeric_classes(np.array([float(v) for v in labels]), task)
    return build_dataset(values, y, task, [header[j] for j in feat_cols], names, str(path))


def numeric_classes(y: np.ndarray, task: str | None) -> tuple[np.ndarray, list[str] | None]:
    """Numeric labels (n,) other than 0..k-1 (1,2,3; -1/+1; 100000/200000) as classes 0..k-1
    named by their values, for classification (or a task to be guessed as it); else as given.
    An (n, 1) column counts as (n,), as :func:`~deltaprop.data.check_labels` takes it."""
    if y.ndim == 2 and y.shape[1] == 1 and (task or infer_task(y)) == "classification":
        y = y[:, 0]
    if y.ndim != 1 or y.dtype.kind not in "biuf" or len(y) == 0:
        return y, None
    if (task or infer_task(y)) != "classification":
        return y, None
    uniq = np.unique(y)
    if np.array_equal(uniq, np.arange(len(uniq))) or not np.all(np.isfinite(uniq)):
        return y, None
    return np.searchsorted(uniq, y), [label_name(float(v)) for v in uniq]


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _read_npz(path: Path, label: str | None, task: str | None) -> Dataset:
    ykey = label or "y"
    z, found = read_npz(path, ["X", ykey, "feature_names", "target_names"])
    if "X" not in z or ykey not in z:
        raise DataError(f"{path}: expected arrays 'X' and {ykey!r}, found {found}")
    X, y = z["X"], z[ykey]
    if X.ndim < 1 or len(X) == 0:
        raise DataError(f"{path}: array 'X' is empty (shape {X.shape})")
    d = int(np.prod(X.shape[1:], dtype=np.int64))
    shape = _npz_image_shape(X.shape)
    names = [str(s) for s in z["feature_names"].reshape(-1)] if "feature_names" in z else None
    names = names if names and len(names) == d else [f"x{i}" for i in range(d)]
    targets = [str(s) for s in z["target_names"].reshape(-1)] if "target_names" in z else None
    if targets is None:
        y, targets = numeric_classes(y, task)
    return build_dataset(X, y, task, names, targets, str(path), shape)


def _npz_image_shape(shape: tuple[int, ...]) -> tuple[int, int, int] | None:
    """(C, H, W) for X of shape (n, C, H, W) or (n, H, W); None for other shapes (X that
    looks channels-last is taken as given: :func:`~deltaprop.data.as_images` warns)."""
    if len(shape) == 3:
        return (1, shape[1], shape[2])
    return (shape[1], shape[2], shape[3]) if len(shape) == 4 else None


def _read_idx(path: Path, label: str | None) -> Dataset:
    labels_path = Path(label) if label is not None else idx_labels_next_to(path)
    if labels_path is None:
        raise ConfigError(
            "label: expected the path of the labels IDX file for IDX images, got None (it is "
            "found without one only next to an images file named as MNIST's are, e.g. "
            "train-images-idx3-ubyte with train-labels-idx1-ubyte)"
        )
    images, labels = load_idx(path), load_idx(labels_path)
    if images.ndim < 2:
        raise DataError(f"{path}: expected IDX images (n, rows, cols), got shape {images.shape}")
    X = images.astype(np.float32)  # build_dataset flattens to (n, rows * cols)
    if images.dtype == np.uint8:
        X /= 255.0  # pixel bytes -> [0, 1]
    shape = (1, *images.shape[1:]) if images.ndim == 3 else None  # (n, rows, cols): images
    names = image_feature_names(shape) if shape else [f"x{i}" for i in range(X[0].size)]
    return build_dataset(X, labels.reshape(-1), "classification", names, None, str(path), shape)


def _is_idx(p: Path) -> bool:
    base = p.name.lower().removesuffix(".gz")
    return "idx" in base or base.endswith("ubyte")


def read_file(path: Path, label: str | None, task: str | None) -> Dataset:
    """A data file as a Dataset, by its extension (see :func:`deltaprop.data.load_dataset`)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path, label, task)
    if suffix == ".npz":
        return _read_npz(path, label, task)
    if _is_idx(path):
        return _read_idx(path, label)
    raise DataError(
        f"{path}: unknown file type; expected .csv, .npz or an IDX file (*.idx, *-ubyte)"
    )


def read_folder(root: Path, label: str | None, task: str | None) -> Dataset:
    """A folder as a Dataset: MNIST's IDX files when it holds them, else one folder of
    images per class. ``label`` and ``task`` do not apply (the labels are the files' or the
    folders'), except ``task="classification"``."""
    if label is not None:
        raise ConfigError(
            f"label: only applies to CSV, NPZ and single IDX files; {root} is a folder, whose "
            f"labels come from its files, got {label!r}"
        )
    if task not in (None, "classification"):
        raise ConfigError(f"task: a folder of images is classification, got {task!r}")
    files = mnist_files(root)
    if files:
        return read_mnist_folder(root, files)
    return read_image_folder(root)
