"""Built-in data sets and data files (CSV, NPZ, MNIST-style IDX), all as one :class:`Dataset`.

The real data sets are scikit-learn's bundled copies (no network); moons and circles come from
scikit-learn's generators; spirals and xor are written here. scikit-learn is imported inside the
functions that use it, so ``import deltaprop`` stays fast.
"""

from __future__ import annotations

import csv
import gzip
import numbers
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..backend import rng as _library_rng
from ..errors import ConfigError, DataError
from .checks import TASKS, _show, check_features, check_labels, check_targets, infer_task

BUNDLED = ("digits", "iris", "wine", "breast_cancer")
GENERATED = ("moons", "circles", "spirals", "xor")
DATASETS = BUNDLED + GENERATED

_DEFAULT_NOISE = {"moons": 0.1, "circles": 0.05, "spirals": 0.2}
_DEFAULT_N_SAMPLES = 500

# IDX type codes (http://yann.lecun.com/exdb/mnist/): data is big-endian.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclass
class Dataset:
    """Features and targets with their names.

    Attributes:
        X: float32, shape (n_samples, n_features).
        y: int64 labels 0..k-1 of shape (n_samples,) for classification; float32 of shape
            (n_samples,) for regression with one target, (n_samples, n_targets) with several.
        task: ``"classification"`` or ``"regression"``.
        n_classes: k for classification, None for regression.
        feature_names: one name per column of X.
        target_names: class names (index = label) where known, else None.
        name: the data set's name or the file path.
    """

    X: np.ndarray
    y: np.ndarray
    task: str
    n_classes: int | None
    feature_names: list[str]
    target_names: list[str] | None
    name: str

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])


def _seed_int(seed: int | None) -> int:
    # Unseeded calls draw from deltaprop's generator, so dp.seed(n) still makes them reproducible.
    return int(_library_rng().integers(0, 2**31 - 1)) if seed is None else int(seed)


def make_spirals(
    n_samples: int = _DEFAULT_N_SAMPLES,
    n_arms: int = 3,
    noise: float = 0.2,
    seed: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved spiral arms, one class per arm (the CS231n toy set).

    Point j of arm c sits at radius r = j / (m - 1) and angle t = 4c + 4r + noise * N(0, 1), i.e.
    (r sin t, r cos t). Noise is on the angle, so the arms blur without leaving the unit disc.

    Returns:
        X float32 (n_samples, 2) and y int64 (n_samples,) with labels 0..n_arms-1; the
        ``n_samples % n_arms`` left-over points go to the first arms.
    """
    gen = np.random.default_rng(_seed_int(seed))
    sizes = [n_samples // n_arms + (c < n_samples % n_arms) for c in range(n_arms)]
    X, y = [], []
    for c, m in enumerate(sizes):
        r = np.linspace(0.0, 1.0, m)
        t = 4.0 * c + 4.0 * r + noise * gen.standard_normal(m)
        X.append(np.column_stack([r * np.sin(t), r * np.cos(t)]))
        y.append(np.full(m, c, dtype=np.int64))
    return np.concatenate(X).astype(np.float32), np.concatenate(y)


def _builtin(name: str, n_samples: int | None, noise: float | None, seed: int | None) -> Dataset:
    if name in BUNDLED or name == "xor":
        given = [k for k, v in (("n_samples", n_samples), ("noise", noise)) if v is not None]
        if given:
            raise ConfigError(
                f"{given[0]}: only the generated data sets {list(GENERATED[:3])} take it, "
                f"got {given[0]}= for {name!r}"
            )
    if name == "xor":
        X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
        y = np.array([0, 1, 1, 0], dtype=np.int64)
        return Dataset(X, y, "classification", 2, ["x1", "x2"], ["0", "1"], name)
    if name in BUNDLED:
        from sklearn import datasets as skd

        bunch = getattr(skd, f"load_{name}")()
        names = getattr(bunch, "feature_names", None)
        if names is None:  # older scikit-learn has no names for digits' pixels
            names = [f"x{i}" for i in range(bunch.data.shape[1])]
        targets = [str(t) for t in bunch.target_names]
        X = bunch.data.astype(np.float32)
        y = bunch.target.astype(np.int64)
        return Dataset(X, y, "classification", len(targets), [str(f) for f in names], targets, name)

    n = _DEFAULT_N_SAMPLES if n_samples is None else n_samples
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 3:
        raise ConfigError(f"n_samples: expected an integer >= 3, got {n_samples!r}")
    sd = _DEFAULT_NOISE[name] if noise is None else noise
    if isinstance(sd, bool) or not isinstance(sd, numbers.Real) or not 0 <= sd < float("inf"):
        raise ConfigError(f"noise: expected a number >= 0, got {noise!r}")
    if name == "spirals":
        X, y = make_spirals(int(n), 3, float(sd), seed)
    else:
        from sklearn import datasets as skd

        make = skd.make_moons if name == "moons" else skd.make_circles
        X, y = make(n_samples=int(n), noise=float(sd), random_state=_seed_int(seed))
    k = 3 if name == "spirals" else 2
    return Dataset(
        X.astype(np.float32), y.astype(np.int64), "classification", k, ["x1", "x2"],
        [str(i) for i in range(k)], name,
    )  # fmt: skip


def _finish(X, y, task, feature_names, target_names, name) -> Dataset:
    """Validate file data and build the Dataset (X float32 (n, d); y int64 or float32)."""
    X = np.asarray(X)
    d = int(np.prod(X.shape[1:], dtype=np.int64))  # images (n, h, w) -> (n, h * w)
    X = check_features(X.reshape(X.shape[0], d), name=f"{name}: X")
    X = X.astype(np.float32, copy=False)
    y = np.asarray(y)
    if y.dtype.kind in "USO":  # text labels -> 0..k-1 in sorted order
        if task == "regression":
            raise DataError(f"{name}: y: expected numbers for regression, got text {_show(y)}")
        target_names, y = np.unique(y.astype(str), return_inverse=True)
        target_names = [str(t) for t in target_names]
    task = infer_task(y) if task is None else task
    if task not in TASKS:
        raise ConfigError(f"task: expected one of {list(TASKS)}, got {task!r}")
    if task == "classification":
        k = len(target_names) if target_names else None
        y = check_labels(y, name=f"{name}: y", n_classes=k)
        n_classes = k or int(y.max()) + 1
    else:
        y = check_targets(y, name=f"{name}: y").astype(np.float32, copy=False)
        y = y[:, 0] if y.shape[1] == 1 else y
        n_classes, target_names = None, None
    if len(y) != len(X):
        raise DataError(f"{name}: expected as many labels as rows, got {len(X)} rows and {len(y)}")
    return Dataset(X, y, task, n_classes, list(feature_names), target_names, name)


def _read_csv(path: Path, label: str | None, task: str | None) -> Dataset:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [(i, row) for i, row in enumerate(csv.reader(f), start=1) if row]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read the CSV file ({exc})") from exc
    if len(rows) < 2:
        raise DataError(f"{path}: expected a header row and at least one data row")
    header = [h.strip() for h in rows[0][1]]
    if all(_is_number(h) for h in header):
        raise DataError(f"{path}: expected a header row of column names, got numbers {header[:5]}")
    if label is None:
        col = len(header) - 1
    elif label in header:
        col = header.index(label)
    else:
        raise ConfigError(f"label: expected one of the columns {header}, got {label!r}")
    if len(header) < 2:
        raise DataError(f"{path}: expected at least one feature column and a label column")
    feat_cols = [j for j in range(len(header)) if j != col]
    values: list[list[float]] = []
    labels: list[str] = []
    for r, (line, row) in enumerate(rows[1:], start=1):
        if len(row) != len(header):
            raise DataError(
                f"{path}: row {r} (line {line}): expected {len(header)} fields, got {len(row)}"
            )
        try:
            values.append([float(row[j]) for j in feat_cols])
        except ValueError:  # find the culprit only on the slow path
            j = next(j for j in feat_cols if not _is_number(row[j]))
            raise DataError(
                f"{path}: row {r} (line {line}), column {header[j]!r}: "
                f"expected a number, got {row[j]!r}"
            ) from None
        labels.append(row[col].strip())
    if "" in labels:
        r = labels.index("") + 1
        raise DataError(f"{path}: row {r}, column {header[col]!r}: the label is empty")
    y = np.array([float(v) for v in labels]) if all(map(_is_number, labels)) else np.array(labels)
    return _finish(np.array(values), y, task, [header[j] for j in feat_cols], None, str(path))


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _read_npz(path: Path, label: str | None, task: str | None) -> Dataset:
    ykey = label or "y"
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in ("X", ykey) if k not in z.files]
            if missing:
                raise DataError(f"{path}: expected arrays 'X' and {ykey!r}, found {z.files}")
            X, y = z["X"], z[ykey]
            names = [str(s) for s in z["feature_names"]] if "feature_names" in z.files else None
            targets = [str(s) for s in z["target_names"]] if "target_names" in z.files else None
    except DataError:
        raise
    except (OSError, ValueError, EOFError) as exc:  # not a zip, truncated, or object arrays
        raise DataError(f"{path}: cannot read the NPZ file ({exc})") from exc
    if X.ndim < 1 or len(X) == 0:
        raise DataError(f"{path}: array 'X' is empty (shape {X.shape})")
    d = int(np.prod(X.shape[1:], dtype=np.int64))
    names = names if names and len(names) == d else [f"x{i}" for i in range(d)]
    return _finish(X, y, task, names, targets, str(path))


def load_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST format), optionally gzip-compressed.

    Layout: two zero bytes, a type code (0x08 ubyte, 0x09 byte, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64), the number of dimensions, one big-endian uint32 per dimension,
    then the data in big-endian C order.

    Returns:
        an ndarray with the file's shape, e.g. uint8 (60000, 28, 28) for MNIST training images.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":  # gzip magic; decide by content, not by file name
            raw = gzip.decompress(raw)
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read the IDX file ({exc})") from exc
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number {raw[:4].hex() or 'empty'})")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header: expected {header} bytes, got {len(raw)}")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != size:
        raise DataError(
            f"{path}: IDX data of shape {shape} needs {size} bytes, got {len(raw) - header}"
        )
    data = np.frombuffer(raw, dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))  # native byte order, writable copy


def _read_idx(path: Path, label: str | None) -> Dataset:
    if label is None:
        raise ConfigError(
            "label: expected the path of the labels IDX file for IDX images, got None"
        )
    images, labels = load_idx(path), load_idx(label)
    if images.ndim < 2:
        raise DataError(f"{path}: expected IDX images (n, rows, cols), got shape {images.shape}")
    X = images.astype(np.float32)  # _finish flattens to (n, rows * cols)
    if images.dtype == np.uint8:
        X /= 255.0  # pixel bytes -> [0, 1]
    if images.ndim == 3:
        names = [f"pixel_{r}_{c}" for r in range(images.shape[1]) for c in range(images.shape[2])]
    else:
        names = [f"x{i}" for i in range(int(np.prod(images.shape[1:])))]
    return _finish(X, labels.reshape(-1), "classification", names, None, str(path))


def _is_idx(p: Path) -> bool:
    base = p.name.lower().removesuffix(".gz")
    return "idx" in base or base.endswith("ubyte")


def load_dataset(
    name_or_path: str | os.PathLike,
    *,
    label: str | None = None,
    n_samples: int | None = None,
    noise: float | None = None,
    seed: int | None = None,
    task: str | None = None,
) -> Dataset:
    """Load a built-in data set by name, or a data file by path.

    Names (see ``DATASETS``): ``"digits"``, ``"iris"``, ``"wine"``, ``"breast_cancer"``
    (scikit-learn's bundled copies); ``"moons"``, ``"circles"`` (``n_samples`` default 500,
    ``noise`` default 0.1 and 0.05), ``"spirals"`` (3 arms, 500 points, angle noise 0.2),
    ``"xor"`` (the 4-row truth table). ``seed`` makes the generated sets reproducible.

    Files, by extension:
        ``.csv``: a header row is required. ``label`` names the label column; when it is None the
            **last column is the label**. Text labels become 0..k-1 in sorted order and
            ``target_names`` keeps the text.
        ``.npz``: arrays ``"X"`` and ``"y"`` (``label`` names another key for y); optional
            ``"feature_names"`` and ``"target_names"``. X with more dimensions is flattened.
        IDX (``*.idx``, ``*-idx3-ubyte``, optionally ``.gz``): MNIST-style images; ``label`` is
            the path of the labels IDX file. Images are flattened to (n, rows * cols) and bytes
            scaled to [0, 1].

    ``task`` (``"classification"``/``"regression"``) overrides the guess of :func:`infer_task`
    for CSV and NPZ files.

    Returns:
        a :class:`Dataset` with X float32 (n_samples, n_features).

    Raises:
        ConfigError: unknown name (the message lists ``DATASETS``) or an option that does not
            apply. DataError: a missing or unreadable file, or bad values in it.
    """
    if isinstance(name_or_path, str):
        # Built-in names win over a file of the same name; "./iris" reaches the file.
        key = name_or_path.strip().lower().replace("-", "_")
        if key in DATASETS:
            if label is not None or task is not None:
                what = "label" if label is not None else "task"
                raise ConfigError(f"{what}: only applies to data files, got it for {key!r}")
            return _builtin(key, n_samples, noise, seed)
        looks_like_path = os.sep in name_or_path or "/" in name_or_path or "." in name_or_path
        if not looks_like_path and not os.path.exists(name_or_path):
            raise ConfigError(
                f"dataset: expected one of {list(DATASETS)} or a .csv/.npz/IDX file path, "
                f"got {name_or_path!r}"
            )
    path = Path(name_or_path)
    if not path.is_file():
        reason = "no such file" if not path.exists() else "not a regular file"
        raise DataError(f"{path}: cannot load the data file ({reason})")
    if n_samples is not None or noise is not None:
        raise ConfigError("n_samples/noise: only the generated data sets take them, not files")
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
