"""Where a GAN's networks work: the "data space" of a fitted GAN, its conversions both ways,
and the label checks.

- tabular rows: :class:`~deltaprop.gan.tabular.TabularTransformer` encodes them (mode-specific
  normalization, one-hot categories); the generator's raw output is activated by it.
- images (N, C, H, W): scaled linearly to [-1, 1] (the range of the generator's tanh) from the
  training images' smallest and largest value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError, ModelFileError
from .tabular import TabularTransformer

KINDS = ("tabular", "image")


@dataclass
class DataSpace:
    """How real data maps to what the networks see, and back.

    ``kind``: "tabular" or "image"; ``n_features``: d (tabular) or C*H*W; ``image_shape``:
    (C, H, W) for images; ``flat``: the images came (and go back) as rows (N, C*H*W);
    ``low``/``high``: the images' value range; ``transformer``: the tabular encoding;
    ``feature_low``/``feature_high``: each feature's range in the training data, which
    decoded samples are clipped to (a pixel always blank in training stays blank: tanh never
    quite reaches -1, and a faint value there would be tens of standard deviations out for a
    model that standardizes its inputs)."""

    kind: str
    n_features: int
    image_shape: tuple[int, int, int] | None = None
    flat: bool = False
    low: float = 0.0
    high: float = 1.0
    transformer: TabularTransformer | None = None
    feature_low: list[float] | None = None
    feature_high: list[float] | None = None

    def clip(self, X: np.ndarray) -> np.ndarray:
        """X (N, ...) in the data's units, each feature clipped to its training range."""
        if self.feature_low is None or self.feature_high is None:
            return X
        flat = np.clip(X.reshape(len(X), -1), self.feature_low, self.feature_high)
        return flat.reshape(X.shape).astype(np.float32)

    @property
    def width(self) -> int:
        """Values per encoded row: the transformer's width, or C*H*W."""
        return self.transformer.width if self.transformer is not None else self.n_features

    def encode(self, X: np.ndarray) -> np.ndarray:
        """Real X -> network space: (N, width) encoded rows or (N, C, H, W) in [-1, 1]."""
        if self.transformer is not None:
            return self.transformer.encode(X)
        X = np.asarray(X, dtype=np.float64).reshape(len(X), *self.image_shape)  # type: ignore[misc]
        span = self.high - self.low
        return (2.0 * (X - self.low) / span - 1.0).astype(np.float32)

    def decode(self, E: np.ndarray) -> np.ndarray:
        """Network space -> the data's units and shape (as given to ``fit``)."""
        if self.transformer is not None:
            return self.clip(self.transformer.decode(E))
        E = np.clip(np.asarray(E, dtype=np.float64), -1.0, 1.0)
        X = (E + 1.0) / 2.0 * (self.high - self.low) + self.low
        X = self.clip(X)
        return X.reshape(len(X), -1) if self.flat else X

    def state(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "n_features": self.n_features,
                               "flat": self.flat, "low": self.low, "high": self.high}  # fmt: skip
        if self.image_shape is not None:
            out["image_shape"] = list(self.image_shape)
        if self.transformer is not None:
            out["transformer"] = self.transformer.state()
        if self.feature_low is not None:
            out["feature_low"], out["feature_high"] = self.feature_low, self.feature_high
        return out

    @classmethod
    def from_state(cls, d: Any) -> DataSpace:
        try:
            kind = d["kind"]
            if kind not in KINDS:
                raise ValueError(f"kind {kind!r}")
            shape = d.get("image_shape")
            space = cls(kind, int(d["n_features"]),
                        tuple(int(s) for s in shape) if shape is not None else None,  # type: ignore[arg-type]
                        bool(d["flat"]), float(d["low"]), float(d["high"]))  # fmt: skip
            if "feature_low" in d:
                low = np.asarray(d["feature_low"], dtype=np.float64)
                high = np.asarray(d["feature_high"], dtype=np.float64)
                if low.shape != (space.n_features,) or high.shape != low.shape:
                    raise ValueError("feature ranges of the wrong length")
                if not (np.all(np.isfinite(low)) and np.all(low <= high)):
                    raise ValueError("feature ranges that are not finite or empty")
                space.feature_low, space.feature_high = low.tolist(), high.tolist()
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"the GAN's data description is malformed: {exc}") from None
        if kind == "tabular":
            space.transformer = TabularTransformer.from_state(d.get("transformer"))
            if space.transformer.n_features != space.n_features:
                raise ModelFileError("the GAN's tabular encoding does not match its features")
        elif space.image_shape is None or len(space.image_shape) != 3 or not space.high > space.low:
            raise ModelFileError("the GAN's image description is malformed")
        return space


def fit_space(
    X: np.ndarray, kind: str, image_shape: Any, categorical: Any, n_modes: int, seed: int
) -> DataSpace:
    """The :class:`DataSpace` of training data X: (N, d) rows, (N, C, H, W) images, or rows
    with ``image_shape`` given; ``kind`` "auto" means images when X is 4-D or image_shape is
    given."""
    if kind == "auto":
        kind = "image" if (X.ndim == 4 or image_shape is not None) else "tabular"
    if kind == "tabular":
        if X.ndim != 2:
            raise DataError(f"X: expected rows (N, d) for a tabular GAN, got shape {X.shape}")
        t = TabularTransformer(categorical, n_modes=n_modes, seed=seed).fit(X)
        return _ranged(DataSpace("tabular", X.shape[1], transformer=t), X)
    if X.ndim == 4:
        shape, flat = tuple(int(s) for s in X.shape[1:]), False
        if image_shape is not None and tuple(image_shape) != shape:
            raise ConfigError(f"image_shape: {tuple(image_shape)} does not match X's images "
                              f"{shape}")  # fmt: skip
    elif X.ndim == 2 and image_shape is not None:
        shape, flat = tuple(int(s) for s in image_shape), True
        if len(shape) != 3 or int(np.prod(shape)) != X.shape[1]:
            raise ConfigError(f"image_shape: expected (C, H, W) with C*H*W = {X.shape[1]} "
                              f"(X's columns), got {image_shape!r}")  # fmt: skip
    else:
        raise DataError(f"X: expected images (N, C, H, W) or rows with image_shape, got shape "
                        f"{X.shape}")  # fmt: skip
    low, high = float(X.min()), float(X.max())
    if not high > low:
        raise DataError(f"X: every pixel is {low:g}; an image GAN needs varying values")
    space = DataSpace("image", int(np.prod(shape)), shape, flat, low, high)  # type: ignore[arg-type]
    return _ranged(space, X)


def _ranged(space: DataSpace, X: np.ndarray) -> DataSpace:
    flat = X.reshape(len(X), -1).astype(np.float64)
    space.feature_low, space.feature_high = flat.min(0).tolist(), flat.max(0).tolist()
    return space


def label_indices(classes: np.ndarray, labels: Any, name: str = "labels") -> np.ndarray:
    """Labels given in the data's own values -> indices 0..K-1 into ``classes``; ConfigError
    naming the labels that are not among the trained classes."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ConfigError(f"{name}: expected one label per sample (1-D), got shape {labels.shape}")
    idx = np.searchsorted(classes, labels) if len(labels) else np.zeros(0, np.int64)
    try:
        ok = (idx < len(classes)) & (classes[np.minimum(idx, len(classes) - 1)] == labels)
    except (TypeError, ValueError):  # a string label against numeric classes
        ok = np.zeros(len(labels), bool)
    if not np.all(ok):
        bad = list(dict.fromkeys(labels[~ok].tolist()))
        shown = ", ".join(map(repr, bad[:10])) + (", ..." if len(bad) > 10 else "")
        raise ConfigError(
            f"{name}: {shown} {'is' if len(bad) == 1 else 'are'} not among the trained classes "
            f"{classes.tolist()}"
        )
    return idx.astype(np.int64)
