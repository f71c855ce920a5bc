"""Built-in data sets, data files (CSV, NPZ, MNIST-style IDX) and folders (MNIST's IDX files,
images per class), all as one :class:`Dataset`.

The real data sets are scikit-learn's bundled copies (no network); moons and circles come from
scikit-learn's generators; spirals and xor are written here. Files are read by
:mod:`.files`; every loader returns a :class:`~deltaprop.data.dataset.Dataset`.
"""

from __future__ import annotations

# scikit-learn is imported inside the functions that use it, on purpose: importing it costs
# about 1.5 s of CPU, which every `import deltaprop` and `deltaprop --help` would pay.
import os
from pathlib import Path

import numpy as np

from ..checks import check_int, check_real
from ..errors import ConfigError, DataError
from ..names import normalize
from .dataset import Dataset
from .files import load_idx, read_file, read_folder
from .seeding import seed_int

BUNDLED = ("digits", "iris", "wine", "breast_cancer")
GENERATED = ("moons", "circles", "spirals", "xor")
DATASETS = BUNDLED + GENERATED

_DEFAULT_NOISE = {"moons": 0.1, "circles": 0.05, "spirals": 0.2}
_DEFAULT_N_SAMPLES = 500

# Dataset (.dataset) and load_idx (.files) are imported from here too, as before the split.
__all__ = [
    "BUNDLED",
    "DATASETS",
    "GENERATED",
    "Dataset",
    "load_dataset",
    "load_idx",
    "make_spirals",
]


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
    gen = np.random.default_rng(seed_int(seed))
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
        shape = (1, 8, 8) if name == "digits" else None  # digits' rows are 8x8 images
        return Dataset(X, y, "classification", len(targets), [str(f) for f in names], targets,
                       name, shape)  # fmt: skip

    n = check_int(_DEFAULT_N_SAMPLES if n_samples is None else n_samples, "n_samples", minimum=3)
    sd = check_real(_DEFAULT_NOISE[name] if noise is None else noise, "noise")
    if name == "spirals":
        X, y = make_spirals(n, 3, sd, seed)
    else:
        from sklearn import datasets as skd

        make = skd.make_moons if name == "moons" else skd.make_circles
        X, y = make(n_samples=n, noise=sd, random_state=seed_int(seed))
    k = 3 if name == "spirals" else 2
    return Dataset(
        X.astype(np.float32), y.astype(np.int64), "classification", k, ["x1", "x2"],
        [str(i) for i in range(k)], name,
    )  # fmt: skip


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
    digits' rows are 8x8 images, pixels 0..16: its ``image_shape`` is (1, 8, 8).

    Files, by extension:
        ``.csv``: a header row is required. ``label`` names the label column; when it is None the
            **last column is the label**. Text labels become 0..k-1 in sorted order and
            ``target_names`` keeps the text.
        ``.npz``: arrays ``"X"`` and ``"y"`` (``label`` names another key for y); optional
            ``"feature_names"`` and ``"target_names"``. X with more dimensions is flattened;
            X (n, C, H, W) or (n, H, W) are images (``image_shape`` (C, H, W) or (1, H, W)).
        IDX (``*.idx``, ``*-idx3-ubyte``, optionally ``.gz``): MNIST-style images; ``label`` is
            the path of the labels IDX file (found without it next to an images file named as
            MNIST's are). Images (n, H, W) have ``image_shape`` (1, H, W), bytes are scaled
            to [0, 1].
        A folder: MNIST's four IDX files (train and t10k, gzipped or not; train then t10k,
            ``test_from`` where t10k begins), or one folder of images per class
            (``root/<class>/<image>``, needs Pillow: ``pip install deltaprop[images]``); see
            :mod:`deltaprop.data.mnist` and :mod:`deltaprop.data.image_folder`.

    Image data keeps X flat (n, C * H * W) with its ``image_shape``: an MLP uses X as it is,
    a CNN takes :func:`deltaprop.data.as_images` of it, (n, C, H, W).

    ``task`` (``"classification"``/``"regression"``) overrides the guess of :func:`infer_task`
    for CSV and NPZ files.

    Returns:
        a :class:`Dataset` with X float32 (n_samples, n_features), ``image_shape`` (C, H, W)
        for images.

    Raises:
        ConfigError: unknown name (the message lists ``DATASETS``) or an option that does not
            apply. DataError: a missing, unreadable or damaged file (a FIFO, a device or a
            folder is refused unopened; NPZ and IDX sizes are checked before reading), or bad
            values in it (NaN, inf, numbers beyond float32's +-3.4e38).
    """
    if isinstance(name_or_path, str):
        # Built-in names win over a file of the same name; "./iris" reaches the file.
        key = normalize(name_or_path)
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
    if not path.is_file() and not path.is_dir():
        reason = "no such file" if not path.exists() else "not a regular file"
        raise DataError(f"{path}: cannot load the data file ({reason})")
    if n_samples is not None or noise is not None:
        raise ConfigError("n_samples/noise: only the generated data sets take them, not files")
    if path.is_dir():
        return read_folder(path, label, task)
    return read_file(path, label, task)
