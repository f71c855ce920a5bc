"""A folder of images per class, ``root/<class name>/<image file>``, read with Pillow.

Classes are the sub-folders' names in sorted order (label i is the i-th name, kept as the
data set's ``target_names``); inside each, the files in sorted order. Names starting with
``.`` are skipped (``.DS_Store``, ``.ipynb_checkpoints``); every other entry of a class folder
must be an image file. Nothing is resized or guessed:

- every image must have the same size and the same channels; the first that differs is a
  DataError naming it, with both sizes (or both modes);
- modes: grayscale ``L`` and black-and-white ``1`` are C = 1; ``RGB`` is C = 3; 16-bit
  grayscale (``I;16``) is C = 1, scaled by 65535; palette images (``P``) are converted to
  the RGB they stand for; an alpha channel (``LA``, ``RGBA``, a palette's transparency) is
  dropped only when every pixel is opaque, since whatever was behind a transparent pixel
  would be a guess; other modes (CMYK, 32-bit, float) are refused, naming the mode;
- pixels are scaled to [0, 1] float32, as IDX bytes are.

The headers are read first (Pillow reads sizes without decoding), so the array's size,
count x C x H x W x 4 bytes, is checked against a bound before it is allocated; the pixels are
then decoded one file at a time into it.
"""

from __future__ import annotations

import math
import os
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError
from ..io.files import check_regular_file
from .dataset import Dataset, build_dataset
from .images import image_feature_names

__all__ = ["memory_bound", "read_image_folder"]

#: mode -> (channels, a pixel's largest value), for the modes pixels are stored in.
_MODES = {"L": (1, 255.0), "I;16": (1, 65535.0), "RGB": (3, 255.0)}
#: The other modes read, and the mode each is stored in (alpha dropped when opaque, palettes
#: as the colours they stand for, black and white as 0 and 255, 16-bit of either byte order).
_AS = {"1": "L", "LA": "L", "P": "RGB", "PA": "RGB", "RGBA": "RGB", "I;16B": "I;16",
       "I;16L": "I;16"}  # fmt: skip


def _pillow(root: Path) -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise ConfigError(
            f"{root}: reading a folder of images needs Pillow, which is not installed "
            "(pip install deltaprop[images])"
        ) from None
    return Image


def memory_bound() -> int | None:
    """Bytes an image array may take: half the machine's physical memory where the system
    says it (None elsewhere: no bound)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (AttributeError, ValueError, OSError):
        return None


def read_image_folder(root: Path, max_bytes: int | None = None) -> Dataset:
    """``root/<class>/<image>`` as a Dataset: X float32 (n, C * H * W) in [0, 1] with
    ``image_shape`` (C, H, W), y int64 (n,) class indices, ``target_names`` the class names.

    ``max_bytes``: the most the float32 array may take (default :func:`memory_bound`).

    Raises:
        ConfigError: Pillow is not installed. DataError naming the file or folder: no class
            folders, an empty class, a file that is not an image (or is damaged or
            truncated), a size or mode that differs from the first image's, a mode that is
            refused, or more images than ``max_bytes`` holds.
    """
    files, classes = _list_files(root)  # a folder of anything else is refused without Pillow
    Image = _pillow(root)
    first: tuple[Path, tuple[int, int], str] | None = None
    for path, _ in files:  # headers only: sizes and modes, nothing decoded yet
        size, mode = _header(Image, path)
        if first is None:
            first = (path, size, mode)
        elif size != first[1]:
            raise DataError(
                f"{path}: image of {size[0]}x{size[1]} (width x height), but {first[0]} is "
                f"{first[1][0]}x{first[1][1]}: every image must have the same size (resize "
                "them first; nothing is resized here)"
            )
        elif _MODES[mode][0] != _MODES[first[2]][0]:
            raise DataError(
                f"{path}: a {_describe(mode)} image, but {first[0]} is {_describe(first[2])}: "
                "every image must have the same channels"
            )
    assert first is not None  # _list_files refuses a folder without images
    (w, h), c = first[1], _MODES[first[2]][0]
    shape = (c, h, w)
    need = len(files) * math.prod(shape) * 4
    bound = memory_bound() if max_bytes is None else max_bytes
    if bound is not None and need > bound:
        why = " (half the physical memory)" if max_bytes is None else ""
        raise DataError(
            f"{root}: {len(files)} images of {c}x{h}x{w} need {need} bytes as float32, more "
            f"than the {bound} allowed{why}: use fewer or smaller images"
        )
    X = np.empty((len(files), math.prod(shape)), np.float32)
    for i, (path, _) in enumerate(files):
        X[i] = _pixels(Image, path, shape)
    y = np.array([label for _, label in files], dtype=np.int64)
    return build_dataset(X, y, "classification", image_feature_names(shape), classes, str(root),
                         shape)  # fmt: skip


def _visible(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as it:
            entries = [e for e in it if not e.name.startswith(".")]
    except OSError as exc:
        raise DataError(f"{folder}: cannot list the folder ({exc.strerror or exc})") from None
    return sorted(entries, key=lambda e: e.name)


def _list_files(root: Path) -> tuple[list[tuple[Path, int]], list[str]]:
    """``([(file, class index), ...], class names)``, both sorted by name."""
    class_dirs = [e for e in _visible(root) if e.is_dir()]
    if not class_dirs:
        raise DataError(
            f"{root}: expected one folder of images per class (root/<class>/<image>), or "
            "MNIST's IDX files (train-images-idx3-ubyte, ...), found neither"
        )
    files: list[tuple[Path, int]] = []
    for k, d in enumerate(class_dirs):
        entries = _visible(Path(d.path))
        for e in entries:
            if e.is_dir():
                raise DataError(
                    f"{e.path}: a folder inside the class folder {d.name!r}; expected image "
                    "files only (root/<class>/<image>)"
                )
            files.append((Path(e.path), k))
        if not entries:
            raise DataError(f"{d.path}: the class folder {d.name!r} holds no images")
    return files, [d.name for d in class_dirs]


def _describe(mode: str) -> str:
    return f"{'grayscale' if _MODES[mode][0] == 1 else 'colour'} ({mode})"


#: What Pillow's decoders raise on files that are damaged or not images: OSError (and its
#: UnidentifiedImageError) for most, the others from individual format plugins. Only Pillow's
#: calls run where these are caught, so none of them hides a mistake of ours.
_PIL_ERRORS: tuple[type[BaseException], ...] = (
    OSError, ValueError, EOFError, SyntaxError, struct.error, IndexError, KeyError, TypeError,
    ZeroDivisionError, NotImplementedError, MemoryError,
)  # fmt: skip


@contextmanager
def _pillow_errors(Image: Any, path: Path) -> Iterator[None]:
    """Pillow's errors as DataErrors naming the file, and its warning about images too large
    to be real (decompression bombs) as one too."""
    check_regular_file(path, "image file", error=DataError)  # a FIFO would block forever
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(f"{path}: image too large to be read ({exc})") from None
    except _PIL_ERRORS as exc:
        raise DataError(f"{path}: not an image Pillow can read ({exc})") from None


def _header(Image: Any, path: Path) -> tuple[tuple[int, int], str]:
    """``((width, height), mode)`` of an image file, a key of ``_MODES``; nothing decoded."""
    with _pillow_errors(Image, path), Image.open(path) as im:
        size, mode, frames = im.size, im.mode, getattr(im, "n_frames", 1)
    if frames != 1:
        raise DataError(f"{path}: has {frames} frames; expected a single image")
    if _AS.get(mode, mode) not in _MODES:
        raise DataError(
            f"{path}: image mode {mode!r}; expected grayscale (L, 1, I;16) or colour (RGB, "
            "or RGBA and palette images without transparent pixels): convert it first"
        )
    return size, _AS.get(mode, mode)


def _pixels(Image: Any, path: Path, shape: tuple[int, int, int]) -> np.ndarray:
    """One image's pixels, float32 (C * H * W,) in [0, 1], channels first."""
    with _pillow_errors(Image, path), Image.open(path) as im:
        im.load()  # decodes: a truncated or damaged file fails here
        if im.mode in ("P", "PA"):  # a palette stands for RGB colours (and maybe alpha)
            im = im.convert("RGBA" if im.mode == "PA" or "transparency" in im.info else "RGB")
        lowest = None
        if im.mode in ("LA", "RGBA"):
            lowest = im.getchannel("A").getextrema()[0]
            im = im.convert(im.mode[:-1])
        if im.mode == "1":
            im = im.convert("L")
        mode, a = _AS.get(im.mode, im.mode), np.asarray(im)
    if lowest is not None and lowest < 255:
        raise DataError(
            f"{path}: image with transparent pixels (alpha down to {lowest}); expected opaque "
            "images (what is behind a transparent pixel would be a guess): flatten it onto a "
            "background first"
        )
    c, h, w = shape
    if a.shape[:2] != (h, w) or mode not in _MODES or _MODES[mode][0] != c:
        raise DataError(f"{path}: changed while it was being read (now {a.shape}, {mode})")
    scaled = a.astype(np.float32) / np.float32(_MODES[mode][1])
    return (scaled.transpose(2, 0, 1) if c > 1 else scaled).reshape(-1)
