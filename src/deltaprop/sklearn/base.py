"""What the two estimators share: parameters taken from the run recipe's table, input checks
that end in deltaprop's errors, the fit built on :mod:`deltaprop.recipe`'s builders, forward
passes for predict, and pickling through the model file's bytes.

The parameters are the keys of :data:`deltaprop.recipe.FIELDS` that describe a model and its
training (:data:`PARAMS`), with the table's defaults, so a Recipe, a TOML file, a command line
and an estimator say the same thing the same way (``hidden="64,32"``, ``optimizer="adam"``).
scikit-learn reads an estimator's parameters from its ``__init__`` signature, so the
signature is made from the table (:func:`init_from_table`) rather than written out again.
"""

from __future__ import annotations

import inspect
import os
import tempfile
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from .. import backend, io
from ..autograd.tensor import Tensor
from ..config import no_grad
from ..data import Standardizer
from ..errors import DataError
from ..recipe import FIELD_SPECS, Recipe, build_trainer, fit_kwargs

#: The recipe's keys an estimator takes: the model, the optimizer and schedule, the descent,
#: regularization, early stopping, the seed and the trackers. Not the data keys (the data
#: is fit's X and y), nor the run's output files; not ``cnn`` models (X is a table here).
PARAMS = (
    "hidden", "residual", "architecture", "activation", "init", "optimizer", "lr", "momentum",
    "weight_decay", "schedule", "warmup", "epochs", "descent", "batch_size", "l1", "l2",
    "dropout", "batchnorm", "layernorm", "clip_norm", "clip_value", "early_stopping",
    "validation_split", "log_every", "seed", "drop_last", "tensorboard", "mlflow",
)  # fmt: skip
#: Where an estimator's default differs from the recipe's: scikit-learn's estimators train
#: on every row they are given, so no validation part is held out unless ``early_stopping``
#: needs one (the recipe then takes 10%, as the command line does).
OVERRIDES: dict[str, Any] = {"validation_split": None}
#: What only an estimator has: ``standardize`` (scale each feature by its mean and standard
#: deviation on the first fit's X, kept with the model, as ``deltaprop train`` does: the
#: recipe's defaults, sgd at lr 0.1 among them, are made for standardized inputs) and
#: ``verbose`` (print the epoch lines).
ESTIMATOR_ONLY: dict[str, Any] = {"standardize": True, "verbose": False}
#: Rows per forward pass in predict: bounds the memory of one pass on a large X.
PREDICT_BATCH = 4096


def init_from_table(names: tuple[str, ...], extra: dict[str, Any]) -> Any:
    """An ``__init__`` taking ``names`` (the recipe's keys, with the table's defaults unless
    :data:`OVERRIDES` says otherwise) and ``extra`` as keyword arguments, storing each
    unchanged (scikit-learn's rule: checks happen in fit), with the matching signature."""
    defaults = {n: OVERRIDES.get(n, FIELD_SPECS[n].default) for n in names} | extra

    def __init__(self: Any, **params: Any) -> None:
        for key in params:
            if key not in defaults:
                raise TypeError(
                    f"{type(self).__name__}() got an unexpected keyword argument {key!r}"
                )
        for key, default in defaults.items():
            setattr(self, key, params.get(key, default))

    keyword = inspect.Parameter.KEYWORD_ONLY
    __init__.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [inspect.Parameter(n, keyword, default=d) for n, d in defaults.items()]
    )
    return __init__


class DataTypeError(DataError, TypeError):
    """A DataError about a value of the wrong type (an object array holding a dict): also a
    TypeError, which is what scikit-learn's conventions (and its checks) expect there."""


def as_data_error(exc: Exception, name: str) -> DataError:
    """scikit-learn's message about ``name`` (``"X"`` or ``"y"``) as a DataError naming it,
    with scikit-learn's words kept (its checks match them) and its kind (a TypeError stays
    one: :class:`DataTypeError`)."""
    kind = DataTypeError if isinstance(exc, TypeError) else DataError
    return kind(f"{name}: {exc}")


class DeltapropEstimator(BaseEstimator):
    """The shared part of :class:`~.DeltapropClassifier` and :class:`~.DeltapropRegressor`.

    Subclasses give ``_task`` and the target handling: ``_targets(y, reset, classes)`` ->
    (targets for the Trainer, number of outputs), and ``_file_metadata()`` /
    ``_read_metadata(meta)`` for what the model file keeps besides the network.
    """

    _task = "classification"

    # --- fit ---------------------------------------------------------------------------------
    def _recipe(self, partial: bool = False) -> Recipe:
        """The estimator's parameters as a validated Recipe (ConfigError naming the key)."""
        values = {key: getattr(self, key) for key in PARAMS}
        if self._task == "classification":
            values["class_weight"] = self.class_weight  # type: ignore[attr-defined]
        if partial:  # one epoch per call, on all the rows given: no held-out part to watch
            values.update(early_stopping=None, validation_split=None)
        return Recipe(**values)

    def _fit(self, X: Any, y: Any, partial: bool, classes: Any = None) -> DeltapropEstimator:
        recipe = self._recipe(partial)  # first: a bad parameter is reported before the data
        first = not (partial and hasattr(self, "model_"))
        X = self._check_X(X, reset=first)
        if y is None:
            raise DataError(
                f"y: {type(self).__name__} requires y to be passed, but the target y is None"
            )
        targets, n_out = self._targets(y, X, first, classes)
        if first:
            self._x_scaler = Standardizer().fit(X) if self.standardize else None
        if self._x_scaler is not None:
            X = self._x_scaler.transform(X)
        if first:
            backend.seed(recipe.seed)  # the same seed, the same initial weights: fit repeats
            self.trainer_ = build_trainer(recipe, X.shape[1], n_out, self._task, log=None,
                                          y_train=targets)  # fmt: skip
            self.model_ = self.trainer_.model
            self._partial_calls = 0
        elif getattr(self, "trainer_", None) is None:  # unpickled: a fresh optimizer
            self.trainer_ = build_trainer(recipe, X.shape[1], n_out, self._task, log=None,
                                          model=self.model_)  # fmt: skip
        kwargs = fit_kwargs(recipe)
        if partial:  # a new order of the rows on each call, repeatable from the seed
            kwargs.update(epochs=1, seed=recipe.seed + self._partial_calls)
            self._partial_calls += 1
        history = self.trainer_.fit(X, targets, verbose=bool(self.verbose), **kwargs)
        self.history_ = {k: [float(v) for v in values] for k, values in
                         history.history.items() if _numbers(values)}  # fmt: skip
        return self

    def _check_X(self, X: Any, reset: bool) -> np.ndarray:
        """X as a dense 2-D float array of finite values (DataError naming X); sets or checks
        ``n_features_in_`` and ``feature_names_in_``."""
        if sparse.issparse(X):
            raise DataError(
                "X: sparse input is not supported (the network takes dense rows); "
                "convert it with X.toarray() if it fits in memory"
            )
        try:
            return validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])
        except (ValueError, TypeError) as exc:
            raise as_data_error(exc, "X") from None

    # --- predict -----------------------------------------------------------------------------
    def _outputs(self, X: Any) -> np.ndarray:
        """The network's outputs (N, n_out) for X, in eval mode, float64."""
        check_is_fitted(self, "model_")
        X = self._check_X(X, reset=False)
        if self._x_scaler is not None:
            X = self._x_scaler.transform(X)
        model = self.model_
        dtype = next(iter(model.parameters())).data.dtype
        parts = []
        with model.evaluating(), no_grad():
            for i in range(0, X.shape[0], PREDICT_BATCH):
                rows = Tensor(X[i : i + PREDICT_BATCH], dtype=dtype)
                parts.append(backend.to_numpy(model(rows).data))
        return np.concatenate(parts).astype(np.float64)

    # --- pickling: the model file's bytes ---------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())  # a copy: the live estimator keeps its model
        model = state.pop("model_", None)
        state.pop("trainer_", None)  # optimizer state is not kept: partial_fit starts afresh
        for key in self._file_keys():
            state.pop(key, None)
        if model is not None:
            state["_model_file"] = model_bytes(model, self._file_metadata())
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        data = state.pop("_model_file", None)
        if data is not None:
            state["model_"], meta = model_from_bytes(data)
            state.update(self._read_metadata(meta))
        super().__setstate__(state)

    def _file_keys(self) -> tuple[str, ...]:
        """Private attributes the model file's metadata carries instead of the pickle."""
        return ("_x_scaler",)

    def _file_metadata(self) -> dict[str, Any]:
        """JSON values of :meth:`_file_keys`, for the model file."""
        scaler = self._x_scaler
        return {"x_scaler": None if scaler is None else scaler.state()}

    def _read_metadata(self, meta: dict[str, Any]) -> dict[str, Any]:
        """:meth:`_file_metadata`'s values back as attributes."""
        state = meta.get("x_scaler")
        return {"_x_scaler": None if state is None else Standardizer.from_state(state)}


def model_bytes(model: Any, metadata: dict[str, Any]) -> bytes:
    """The model file (:func:`deltaprop.save`) of ``model`` with ``metadata``, as bytes."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.safetensors")
        io.save(model, path, metadata={"sklearn": metadata}, allow_nonfinite=True)
        with open(path, "rb") as f:
            return f.read()


def model_from_bytes(data: bytes) -> tuple[Any, dict[str, Any]]:
    """(model, the estimator's metadata) from :func:`model_bytes`'s bytes, verified as any
    model file is (its checksum)."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.safetensors")
        with open(path, "wb") as f:
            f.write(data)
        model, meta = io.load(path, return_metadata=True)
    return model, meta.get("sklearn", {})


def _numbers(values: Any) -> bool:
    return isinstance(values, list) and all(
        isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool)
        for v in values
    )
