"""MNIST's folder of IDX files (Fashion-MNIST uses the same names) as one data set.

The four files are ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each optionally ``.gz`` (a ``.``
before ``idx`` is accepted too, as some copies name them). Images are read as (N, 1, H, W)
(:func:`~deltaprop.data.as_images`; X itself stays flat), train then t10k, and ``test_from``
marks where t10k begins. Each file is read by :func:`~deltaprop.data.idx.load_idx`, with its
size checked before anything is allocated.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ..errors import DataError
from .dataset import Dataset, build_dataset
from .idx import load_idx
from .images import image_feature_names

__all__ = ["idx_labels_next_to", "mnist_files", "read_mnist_folder"]

#: MNIST's file names: part, kind, optional ".gz" (torchvision's raw folder has both forms).
_MNIST_NAME = re.compile(r"(train|t10k)-(images|labels)[-.]idx([13])-ubyte(\.gz)?", re.IGNORECASE)
_PARTS = ("train", "t10k")


def idx_labels_next_to(images: Path) -> Path | None:
    """The labels file MNIST names after an images file (``train-images-idx3-ubyte.gz`` ->
    ``train-labels-idx1-ubyte`` or ``.gz``, the uncompressed first) when it is there."""
    m = _MNIST_NAME.fullmatch(images.name)
    if m is None or m.group(2).lower() != "images":
        return None
    sep = images.name[m.end(2)]  # "-" or "."
    base = f"{m.group(1)}-labels{sep}idx1-ubyte"
    for name in (base, base + ".gz"):
        if (images.parent / name).is_file():
            return images.parent / name
    return None


def mnist_files(root: Path) -> dict[tuple[str, str], Path]:
    """``{(part, kind): path}`` of the MNIST-named files in ``root``; where a file is there
    both plain and gzipped, the plain one (what gunzip made of the other)."""
    out: dict[tuple[str, str], Path] = {}
    try:
        names = sorted(e.name for e in os.scandir(root))
    except OSError as exc:
        raise DataError(f"{root}: cannot list the folder ({exc.strerror or exc})") from None
    for name in names:
        m = _MNIST_NAME.fullmatch(name)
        if m is None:
            continue
        key = (m.group(1).lower(), m.group(2).lower())
        if key not in out or not m.group(4):
            out[key] = root / name
    return out


def read_mnist_folder(root: Path, files: dict[tuple[str, str], Path]) -> Dataset:
    """The parts that :func:`mnist_files` found (each with its images and labels file), as
    one Dataset: X float32 (n, H * W) in [0, 1] with ``image_shape`` (1, H, W), train rows
    first; DataError naming the file for a missing partner, a count or size that does not
    match, or a damaged file."""
    parts = []
    for part in _PARTS:
        have = [kind for kind in ("images", "labels") if (part, kind) in files]
        if len(have) == 1:
            missing = "labels" if have == ["images"] else "images"
            idx = "idx1" if missing == "labels" else "idx3"
            raise DataError(
                f"{root}: has {files[(part, have[0])].name} but no {part}-{missing}-{idx}-ubyte "
                "(or .gz): expected the images and labels files of each part"
            )
        if have:
            parts.append(_read_pair(files[(part, "images")], files[(part, "labels")]))
    first = parts[0][0]
    for (images, _), part in zip(parts[1:], _PARTS[1:]):
        if images.shape[1:] != first.shape[1:]:
            raise DataError(
                f"{files[(part, 'images')]}: images of {images.shape[1]}x{images.shape[2]}, "
                f"but {files[('train', 'images')].name} holds {first.shape[1]}x{first.shape[2]}"
            )
    # One float32 array at the end (uint8 until then), scaled as single IDX files are.
    X = np.concatenate([p[0] for p in parts]).astype(np.float32)
    X /= 255.0
    y = np.concatenate([p[1] for p in parts])
    shape = (1, *first.shape[1:])
    ds = build_dataset(X, y, "classification", image_feature_names(shape), None, str(root), shape)
    ds.test_from = len(parts[0][0]) if len(parts) == 2 else None
    return ds


def _read_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """An MNIST images file, uint8 (n, H, W), and its labels file (n,)."""
    images, labels = load_idx(images_path), load_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(
            f"{images_path}: expected IDX images of bytes (n, rows, cols), got {images.dtype} "
            f"of shape {images.shape}"
        )
    if labels.ndim != 1:
        raise DataError(f"{labels_path}: expected IDX labels (n,), got shape {labels.shape}")
    if len(labels) != len(images):
        raise DataError(
            f"{labels_path}: {len(labels)} labels for the {len(images)} images of "
            f"{images_path.name}; expected one label per image"
        )
    return images, labels
