"""Tabular columns <-> what a GAN's networks see: mode-specific normalization of continuous
columns and one-hot categorical columns (the encoding of CTGAN, Xu et al., 2019).

Why not plain standardization: a column with two clusters of values (a bimodal feature, or a
class-dependent one) standardized to one mean and spread gives the generator a single scale to
match; it learns the average and misses both modes. Here each continuous column gets a
Gaussian mixture (scikit-learn's ``BayesianGaussianMixture``, which switches off modes it does
not need); a value x becomes the one-hot of its most likely mode k plus its position inside
that mode, ``alpha = (x - mu_k) / (4 sigma_k)`` in [-1, 1]. The generator then picks a mode
(a softmax) and a position (a tanh), and the multimodal shape survives.

Categorical columns (given, or found: few distinct whole numbers) are one-hot; the generator
emits one softmax per column.

Encoded layout, column by column in the input's order: continuous ``[alpha, mode_1..mode_K]``,
categorical ``[value_1..value_V]``. :attr:`TabularTransformer.spans` lists them as
``(start, stop, kind)`` with kind ``"tanh"`` or ``"softmax"``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import ops
from ..autograd.tensor import Tensor
from ..checks import check_int, check_real
from ..errors import ConfigError, DataError, ModelFileError

#: Modes below this weight are dropped: the Bayesian mixture drives unneeded ones towards 0,
#: but a stray mode on one or two outlying rows keeps about 1/n (CTGAN keeps 0.005).
MIN_MODE_WEIGHT = 0.01
#: alpha's scale: 4 sigma puts ~all of a mode inside tanh's (-1, 1).
ALPHA_SCALE = 4.0
#: Auto-detected categorical columns: whole numbers with at most this many values.
MAX_AUTO_CATEGORIES = 10


class TabularTransformer:
    """Fit on training rows X (N, d); :meth:`encode` -> (N, D), :meth:`decode` (N, D) -> (N, d).

    Args:
        categorical: column indices to one-hot, ``"auto"`` (whole-number columns with at most
            ``MAX_AUTO_CATEGORIES`` values) or None (every column continuous).
        n_modes: the most Gaussian modes per continuous column (the mixture prunes the rest).
        seed: seeds the mixtures' fitting (scikit-learn's random_state).
    """

    def __init__(
        self, categorical: Sequence[int] | str | None = "auto", n_modes: int = 10, seed: int = 0
    ) -> None:
        if isinstance(categorical, str) and categorical != "auto":
            raise ConfigError(f"categorical: expected 'auto', None or column indices, got "
                              f"{categorical!r}")  # fmt: skip
        self.categorical = categorical
        self.n_modes = check_int(n_modes, "n_modes")
        self.seed = check_int(seed, "seed", minimum=0)
        self.columns: list[dict[str, Any]] = []

    # -- fitting ----------------------------------------------------------------------------
    def fit(self, X: np.ndarray) -> TabularTransformer:
        """Fit every column of X (N, d) (finite numbers, N >= 2)."""
        X = _rows(X, "X")
        d = X.shape[1]
        cats = self._categorical_columns(X)
        self.columns = []
        for j in range(d):
            col = X[:, j].astype(np.float64)
            if j in cats:
                self.columns.append({"kind": "categorical", "values": np.unique(col).tolist()})
            else:
                self.columns.append(self._fit_continuous(col))
        return self

    def _categorical_columns(self, X: np.ndarray) -> set[int]:
        d = X.shape[1]
        if self.categorical is None:
            return set()
        if self.categorical == "auto":
            out = set()
            for j in range(d):
                values = np.unique(X[:, j])
                whole = np.all(values == np.round(values))
                if whole and 2 <= len(values) <= MAX_AUTO_CATEGORIES:
                    out.add(j)
            return out
        cats = set()
        for j in self.categorical:  # type: ignore[union-attr]
            cats.add(check_int(j, "categorical", minimum=0, maximum=d - 1))
        return cats

    def _fit_continuous(self, col: np.ndarray) -> dict[str, Any]:
        spread = float(col.std())
        floor = max(1e-3 * spread, 1e-6)  # a mode of one repeated value still has a width
        values = np.unique(col)
        k = min(self.n_modes, len(values))
        if k <= 1 or spread == 0:
            return {"kind": "continuous", "means": [float(col.mean())], "stds": [max(spread,
                    floor)]}  # fmt: skip
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import BayesianGaussianMixture

        bgm = BayesianGaussianMixture(
            n_components=k, weight_concentration_prior_type="dirichlet_process",
            weight_concentration_prior=1e-3, covariance_type="spherical", max_iter=50,
            random_state=self.seed,
        )  # fmt: skip
        with warnings.catch_warnings():  # a mixture that stops early is still a usable one
            warnings.simplefilter("ignore", ConvergenceWarning)
            bgm.fit(col.reshape(-1, 1))
        keep = bgm.weights_ > MIN_MODE_WEIGHT
        if not keep.any():
            keep[np.argmax(bgm.weights_)] = True
        means = bgm.means_[keep, 0]
        stds = np.sqrt(bgm.covariances_[keep])
        return {"kind": "continuous", "means": means.tolist(),
                "stds": np.maximum(stds, floor).tolist()}  # fmt: skip

    # -- layout -----------------------------------------------------------------------------
    @property
    def n_features(self) -> int:
        """Columns of the raw data, d."""
        return len(self.columns)

    @property
    def spans(self) -> list[tuple[int, int, str]]:
        """``(start, stop, "tanh" | "softmax")`` of every block of the encoded row."""
        self._check_fitted()
        out, at = [], 0
        for c in self.columns:
            if c["kind"] == "continuous":
                out.append((at, at + 1, "tanh"))
                out.append((at + 1, at + 1 + len(c["means"]), "softmax"))
                at += 1 + len(c["means"])
            else:
                out.append((at, at + len(c["values"]), "softmax"))
                at += len(c["values"])
        return out

    @property
    def width(self) -> int:
        """Columns of the encoded data, D."""
        return self.spans[-1][1]

    # -- encode / decode --------------------------------------------------------------------
    def encode(self, X: np.ndarray) -> np.ndarray:
        """X (N, d) -> (N, D) float32: per continuous column alpha and its mode's one-hot, per
        categorical one the value's one-hot (a value not seen in ``fit``: its nearest)."""
        self._check_fitted()
        X = _rows(X, "X", self.n_features)
        parts = []
        for j, c in enumerate(self.columns):
            col = X[:, j].astype(np.float64)
            if c["kind"] == "continuous":
                mu, sd = np.asarray(c["means"]), np.asarray(c["stds"])
                # the most likely mode: the largest Gaussian density (weights left out: a
                # small mode owns the values near its centre)
                z = (col[:, None] - mu) / sd
                k = np.argmax(-0.5 * z**2 - np.log(sd), axis=1)
                alpha = np.clip(z[np.arange(len(col)), k] / ALPHA_SCALE, -0.99, 0.99)
                parts += [alpha[:, None], np.eye(len(mu))[k]]
            else:
                values = np.asarray(c["values"])
                k = np.argmin(np.abs(col[:, None] - values), axis=1)
                parts.append(np.eye(len(values))[k])
        return np.concatenate(parts, axis=1).astype(np.float32)

    def decode(self, E: np.ndarray) -> np.ndarray:
        """(N, D) encoded rows (a generator's output) -> (N, d) float32 in the data's units:
        the arg-max mode (or value) of each block, alpha clipped to [-1, 1]."""
        self._check_fitted()
        E = np.asarray(E, dtype=np.float64)
        if E.ndim != 2 or E.shape[1] != self.width:
            raise DataError(f"E: expected shape (N, {self.width}), got {E.shape}")
        out = np.empty((len(E), self.n_features))
        at = 0
        for j, c in enumerate(self.columns):
            if c["kind"] == "continuous":
                mu, sd = np.asarray(c["means"]), np.asarray(c["stds"])
                alpha = np.clip(E[:, at], -1.0, 1.0)
                k = np.argmax(E[:, at + 1 : at + 1 + len(mu)], axis=1)
                out[:, j] = alpha * ALPHA_SCALE * sd[k] + mu[k]
                at += 1 + len(mu)
            else:
                values = np.asarray(c["values"])
                out[:, j] = values[np.argmax(E[:, at : at + len(values)], axis=1)]
                at += len(values)
        return out.astype(np.float32)

    def activate(self, raw: Tensor, noise: np.ndarray | None = None, tau: float = 0.2) -> Tensor:
        """A generator's raw output (N, D) -> encoded rows: tanh on each alpha, softmax on each
        one-hot block. With ``noise`` (N, D) Gumbel draws, the softmax blocks are Gumbel-softmax
        at temperature ``tau``: nearly one-hot like the real rows (a plain softmax's soft rows
        would tell the discriminator which rows are fake), yet differentiable."""
        tau = check_real(tau, "tau", strict=True)
        n = raw.shape[0]
        parts, columns = [], []
        # One op per kind of block, not per block: the tanh columns gathered at once, and the
        # softmax blocks of each size as one (N, blocks, size) softmax; a last gather puts the
        # columns back in order. (Per block it was ~100 tiny ops a step on 30 columns.)
        for size, cols in self._groups():
            block = raw[:, cols]
            if size == 0:
                parts.append(ops.tanh(block))
            else:
                if noise is not None:
                    block = (block + noise[:, cols].astype(raw.data.dtype)) * (1.0 / tau)
                block = ops.softmax(ops.reshape(block, (n, len(cols) // size, size)), axis=2)
                parts.append(ops.reshape(block, (n, len(cols))))
            columns.append(cols)
        out = ops.concatenate(parts, axis=1)
        return out[:, np.argsort(np.concatenate(columns))]

    def _groups(self) -> list[tuple[int, np.ndarray]]:
        """``[(0, tanh columns), (size, columns of the softmax blocks of that size), ...]``."""
        tanh = [start for start, _, kind in self.spans if kind == "tanh"]
        out = [(0, np.asarray(tanh, dtype=np.int64))] if tanh else []
        sizes: dict[int, list[int]] = {}
        for start, stop, kind in self.spans:
            if kind == "softmax":
                sizes.setdefault(stop - start, []).extend(range(start, stop))
        out += [(size, np.asarray(cols, dtype=np.int64)) for size, cols in sorted(sizes.items())]
        return out

    # -- state ------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Plain JSON: what :meth:`from_state` rebuilds the fitted transformer from."""
        self._check_fitted()
        return {"n_modes": self.n_modes, "seed": self.seed, "columns": self.columns}

    @classmethod
    def from_state(cls, state: Any) -> TabularTransformer:
        """The transformer :meth:`state` described; ModelFileError for anything malformed."""
        try:
            t = cls(None, n_modes=state["n_modes"], seed=state["seed"])
            columns = list(state["columns"])
            for c in columns:
                if c["kind"] == "continuous":
                    mu = np.asarray(c["means"], dtype=np.float64)
                    sd = np.asarray(c["stds"], dtype=np.float64)
                    ok = mu.ndim == 1 and mu.shape == sd.shape and len(mu) >= 1
                    ok = ok and bool(np.all(np.isfinite(mu)) and np.all(sd > 0))
                elif c["kind"] == "categorical":
                    v = np.asarray(c["values"], dtype=np.float64)
                    ok = v.ndim == 1 and len(v) >= 1 and bool(np.all(np.isfinite(v)))
                else:
                    ok = False
                if not ok:
                    raise ValueError(f"bad column {c!r}")
        except (KeyError, TypeError, ValueError, ConfigError) as exc:
            raise ModelFileError(f"the tabular encoding is malformed: {exc}") from None
        if not columns:
            raise ModelFileError("the tabular encoding has no columns")
        t.columns = columns
        return t

    def _check_fitted(self) -> None:
        if not self.columns:
            raise ConfigError("TabularTransformer: not fitted; call fit(X) first")

    def __repr__(self) -> str:
        if not self.columns:
            return "TabularTransformer(not fitted)"
        cats = sum(c["kind"] == "categorical" for c in self.columns)
        return (f"TabularTransformer({self.n_features} columns: {self.n_features - cats} "
                f"continuous, {cats} categorical; width {self.width})")  # fmt: skip


def _rows(X: Any, name: str, d: int | None = None) -> np.ndarray:
    """X as a finite 2-D float array with ``d`` columns (when given)."""
    X = np.asarray(X)
    if X.ndim != 2 or len(X) == 0 or X.dtype.kind not in "fiub":
        raise DataError(f"{name}: expected a non-empty 2-D array of numbers, got shape "
                        f"{X.shape} of {X.dtype}")  # fmt: skip
    if d is not None and X.shape[1] != d:
        raise DataError(f"{name}: expected {d} columns (as fitted), got {X.shape[1]}")
    if not np.all(np.isfinite(X)):
        raise DataError(f"{name}: holds NaN or inf")
    return X
