"""One preprocessing object for a run, fitted on the training part and saved with the model.

:class:`Preprocessor` turns raw columns (numbers, text, missing cells) and raw labels (text,
any numbers: ``1,2,3``, ``-1/+1``, ``100000/200000``) into what the network sees, and back:

- feature names and order (a CSV's columns are selected by name at predict time);
- text feature columns one-hot encoded (scikit-learn's OneHotEncoder, unseen values -> zeros);
- missing values refused (naming the column) unless ``impute`` is ``"mean"``/``"median"``
  (scikit-learn's SimpleImputer; text columns take their most frequent value);
- feature scaling (:class:`~deltaprop.data.split.Standardizer`);
- classification: classes kept with their original values and names -> labels 0..k-1;
- regression: targets standardized, predictions mapped back (:meth:`decode`).

Its :meth:`state` is plain JSON, stored in a model file's metadata (``"preprocessor"``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError, DataError
from . import columns
from .checks import TASKS, check_features, show_first
from .columns import as_numbers, guess_task, is_missing, label_name, refuse_stray_text
from .split import Standardizer

IMPUTE = ("mean", "median")


class Preprocessor:
    """Raw features and labels -> network inputs and targets, fitted on training data.

    Args:
        task: ``"classification"``, ``"regression"`` or None to :func:`guess_task` in
            :meth:`fit` (``reason`` then says why).
        impute: None (missing values are an error), ``"mean"`` or ``"median"``.
    """

    def __init__(self, task: str | None = None, impute: str | None = None) -> None:
        self.task = task
        self.reason = "given" if task else ""
        self.impute = impute
        self.feature_names: list[str] = []
        self.label: str | None = None
        self.categories: dict[str, list[str]] = {}  # text column -> its one-hot values
        self.fill: dict[str, Any] = {}  # column -> imputed value
        self.class_names: list[str] | None = None  # classification: index -> name
        self.class_values: list[float] | None = None  # numeric labels' values, else None
        self.x_scaler = Standardizer()
        self.y_scaler: Standardizer | None = None

    # -- fitting ------------------------------------------------------------------------------
    def fit(
        self,
        X: Any,
        y: Any,
        feature_names: list[str] | None = None,
        classes: list[str] | None = None,
        label: str | None = None,
        task_name: str = "task",
    ) -> Preprocessor:
        """Fit on the training part: X (n, d) numbers or text cells, y (n,) raw labels or
        (n,)/(n, t) targets; ``classes`` names labels already 0..k-1 (built-in sets)."""
        X = np.asarray(X)
        X = X.reshape(len(X), -1)
        self.feature_names = list(feature_names or [f"x{i}" for i in range(X.shape[1])])
        self.label = label
        if self.task is None:
            self.task, self.reason = guess_task(y, task_name)
        if X.dtype.kind not in "biuf":
            for j, col in enumerate(self.feature_names):
                self._fit_column(col, X[:, j])
        elif self.impute and np.isnan(X).any():
            self._fit_numeric_fill(X)
        self.x_scaler.fit(self._encode_features(X))
        if self.task == "classification":
            if self.class_names is None:  # fit_classes may have seen every row's label
                self.fit_classes(np.asarray(y), classes)
        else:
            self.y_scaler = Standardizer().fit(self.targets(y))
        return self

    def _fit_column(self, col: str, cells: np.ndarray) -> None:
        from sklearn.impute import SimpleImputer
        from sklearn.preprocessing import OneHotEncoder

        missing = is_missing(cells)
        numbers = as_numbers(cells)
        if missing.all():
            raise DataError(f"column {col!r}: every value is missing")
        if numbers is None:
            refuse_stray_text(cells, col)
            present = cells[~missing].astype(str).reshape(-1, 1)
            enc = OneHotEncoder(handle_unknown="ignore").fit(present)
            self.categories[col] = [str(c) for c in enc.categories_[0]]
            if self.impute and missing.any():
                imp = SimpleImputer(strategy="most_frequent").fit(present.astype(object))
                self.fill[col] = str(imp.statistics_[0])
        elif self.impute and missing.any():
            imp = SimpleImputer(strategy=self.impute).fit(numbers.reshape(-1, 1))
            self.fill[col] = float(imp.statistics_[0])

    def _fit_numeric_fill(self, X: np.ndarray) -> None:
        from sklearn.impute import SimpleImputer

        imp = SimpleImputer(strategy=self.impute, keep_empty_features=True).fit(X)
        for j, col in enumerate(self.feature_names):
            if np.isnan(X[:, j]).any():
                self.fill[col] = float(imp.statistics_[j])

    def fit_classes(self, y: Any, classes: list[str] | None = None) -> Preprocessor:
        """The class list from raw labels (n,): numbers in numeric order (names as written:
        ``"1"``, ``"-1"``, ``"100000"``), text in sorted order; ``classes`` names labels that
        are already 0..k-1."""
        y = np.asarray(y)
        if classes is not None:
            self.class_names = [str(c) for c in classes]
            return self
        y = y.reshape(-1)
        values = as_numbers(y)
        if values is not None and not np.isnan(values).any():
            uniq = np.unique(values)
            self.class_values = [float(v) for v in uniq]
            self.class_names = [label_name(v) for v in uniq]
        else:
            self._check_labels_present(y)
            self.class_names = sorted({str(v).strip() for v in y})
        return self

    def _check_labels_present(self, y: np.ndarray) -> None:
        missing = is_missing(y.astype(str)) if y.dtype.kind not in "f" else np.isnan(y)
        if missing.any():
            i = int(np.argmax(missing))
            raise DataError(f"label {self.label or 'y'!r}: row {i + 1} has no label")

    # -- applying -----------------------------------------------------------------------------
    @property
    def input_names(self) -> list[str]:
        """The network's input columns: feature names, text columns as ``col=value``."""
        out: list[str] = []
        for col in self.feature_names:
            cats = self.categories.get(col)
            out += [f"{col}={c}" for c in cats] if cats is not None else [col]
        return out

    @property
    def n_outputs(self) -> int | None:
        return len(self.class_names) if self.class_names is not None else None

    def _encode_features(self, X: np.ndarray) -> np.ndarray:
        from sklearn.preprocessing import OneHotEncoder

        parts = []
        for j, col in enumerate(self.feature_names):
            cells = X[:, j]
            missing = is_missing(cells)
            if missing.any() and col not in self.fill:
                hint = "" if self.impute else "; train with --impute mean or median to fill them"
                raise DataError(
                    f"column {col!r}: expected a value in every row, got {int(missing.sum())} "
                    f"missing (empty, NA or NaN; first at row {int(np.argmax(missing)) + 1}){hint}"
                )
            if col in self.categories:
                cats = self.categories[col]
                text = np.where(missing, self.fill.get(col, ""), cells.astype(str))
                enc = OneHotEncoder(categories=[cats], handle_unknown="ignore")
                enc.fit(np.array(cats).reshape(-1, 1))
                parts.append(enc.transform(text.reshape(-1, 1)).toarray())
                continue
            numbers = as_numbers(cells)
            if numbers is None:
                bad = next(c for c, m in zip(cells, missing) if not m and as_numbers(
                    np.array([c])) is None)  # fmt: skip
                raise DataError(f"column {col!r}: expected a number, got {str(bad)!r}")
            columns.refuse_float32_overflow(numbers, cells, f"column {col!r}")
            parts.append(np.where(missing, self.fill.get(col, 0.0), numbers).reshape(-1, 1))
        return check_features(np.hstack(parts).astype(np.float32), "X")

    def transform(self, X: Any) -> np.ndarray:
        """Raw features (n, d) in :attr:`feature_names` order -> float32 (n, n_in) inputs."""
        X = np.asarray(X)
        X = X.reshape(len(X), -1)
        if X.shape[1] != len(self.feature_names):
            raise DataError(
                f"X: expected {len(self.feature_names)} feature columns "
                f"({', '.join(self.feature_names[:8])}), got {X.shape[1]}"
            )
        return self.x_scaler.transform(self._encode_features(X))

    def encode(self, y: Any, name: str = "y") -> np.ndarray:
        """Raw labels -> int64 (n,) 0..k-1 through the TRAINING classes (unseen labels are a
        DataError naming them); raw targets -> standardized float32 (n,) or (n, t)."""
        y = np.asarray(y)
        if self.task == "regression":
            t = self.targets(y)
            z = self.y_scaler.transform(t) if self.y_scaler else t
            return z[:, 0] if z.shape[1] == 1 and y.ndim == 1 else z
        y = y.reshape(-1)
        names = self.class_names or []
        if self.class_values is not None:
            values = as_numbers(y)
            if values is None or np.isnan(values).any():
                bad = [v for v in y if as_numbers(np.array([v])) is None]
                raise DataError(f"{name}: expected the numeric classes {names}, got {bad[:5]}")
            table = {v: i for i, v in enumerate(self.class_values)}
            keys, shown = list(values), [label_name(v) for v in values]
        elif not names or y.dtype.kind in "biu":
            # already 0..k-1 (built-in sets; old model files of numeric labels kept no names)
            values = as_numbers(y)
            if values is None or np.isnan(values).any() or (values != np.round(values)).any():
                raise DataError(f"{name}: expected class numbers 0..k-1, got {show_first(y)}")
            return values.astype(np.int64)
        else:
            table = {c: i for i, c in enumerate(names)}
            keys = shown = [str(v).strip() for v in y]
        unseen = sorted({s for k, s in zip(keys, shown) if k not in table})
        if unseen:
            raise DataError(
                f"{name}: labels {unseen[:10]} were not among the training classes {names}"
            )
        return np.array([table[k] for k in keys], dtype=np.int64)

    def decode(self, out: np.ndarray) -> np.ndarray:
        """Class indices (n,) -> class names; standardized predictions (n, t) -> targets."""
        if self.task == "classification":
            names = self.class_names
            return np.array(names, dtype=object)[out] if names else out
        return self.y_scaler.inverse_transform(out) if self.y_scaler else out

    def targets(self, y: Any) -> np.ndarray:
        """Raw regression targets (n,) or (n, t), numbers or text cells -> float64 (n, t)."""
        y = np.asarray(y)
        values = y.astype(np.float64) if y.dtype.kind in "biuf" else as_numbers(y.reshape(-1))
        if values is None:
            raise DataError(f"y: expected numbers for regression, got text {show_first(y)}")
        values = values.reshape(len(values), -1)
        if np.isnan(values).any():
            i = int(np.argmax(np.isnan(values).any(axis=1)))
            raise DataError(f"label {self.label or 'y'!r}: row {i + 1} has no target value")
        columns.refuse_float32_overflow(
            values, y.reshape(len(values), -1), f"label {self.label or 'y'!r}"
        )
        return values

    # -- saving ------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Plain JSON: everything :meth:`from_state` needs."""
        return {
            "version": 1, "task": self.task, "impute": self.impute,
            "feature_names": self.feature_names, "label": self.label,
            "categories": self.categories, "fill": self.fill,
            "class_names": self.class_names, "class_values": self.class_values,
            "x_scaler": self.x_scaler.state(),
            "y_scaler": self.y_scaler.state() if self.y_scaler else None,
        }  # fmt: skip

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> Preprocessor:
        """Rebuild a fitted Preprocessor from :meth:`state`'s dict."""
        if not isinstance(d, dict) or d.get("task") not in TASKS or "x_scaler" not in d:
            raise DataError("preprocessor: expected the dict Preprocessor.state() writes")
        out = cls(d["task"], d.get("impute"))
        out.feature_names, out.label = list(d["feature_names"]), d.get("label")
        out.categories, out.fill = dict(d.get("categories") or {}), dict(d.get("fill") or {})
        out.class_names, out.class_values = d.get("class_names"), d.get("class_values")
        out.x_scaler = Standardizer.from_state(d["x_scaler"])
        out.y_scaler = Standardizer.from_state(d["y_scaler"]) if d.get("y_scaler") else None
        return out

    @classmethod
    def from_metadata(cls, info: dict[str, Any]) -> Preprocessor:
        """From a model file's ``"deltaprop_cli"`` metadata, new (``"preprocessor"``) or old
        (``"standardizer"``, ``"task"``, ``"feature_names"``, ``"target_names"``)."""
        if "preprocessor" in info:
            return cls.from_state(info["preprocessor"])
        out = cls(info.get("task") or "classification")
        out.feature_names = list(info.get("feature_names") or [])
        out.class_names = info.get("target_names") if out.task == "classification" else None
        if "standardizer" in info:
            out.x_scaler = Standardizer.from_state(info["standardizer"])
        else:  # no scaling was saved: the identity
            n = len(out.feature_names)
            out.x_scaler = Standardizer.from_state({"mean": [0.0] * n, "scale": [1.0] * n})
        return out

    def __repr__(self) -> str:
        return (f"Preprocessor(task={self.task!r}, features={len(self.feature_names)}, "
                f"classes={self.n_outputs})")  # fmt: skip


def check_impute(value: Any, name: str = "impute") -> str | None:
    """None, ``"mean"`` or ``"median"``."""
    if value is None:
        return None
    if value not in IMPUTE:
        raise ConfigError(f"{name}: expected one of {', '.join(IMPUTE)}, got {value!r}")
    return value
