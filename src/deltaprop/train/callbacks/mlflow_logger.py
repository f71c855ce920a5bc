"""MLflowLogger: a run's parameters, per-epoch metrics and trained model in MLflow (the
``[mlflow]`` extra; imported when the callback is made).

By default the run goes to a local store in ``./mlruns``: MLflow's SQLite database
``mlruns/mlflow.db`` and the artifacts under ``mlruns/artifacts``. (MLflow 3 keeps its older
plain-folder store in maintenance mode and refuses it unless ``MLFLOW_ALLOW_FILE_STORE`` is
set, so the local default is its database.) ``mlflow ui --backend-store-uri
sqlite:///mlruns/mlflow.db`` shows it; ``MlflowClient`` reads it back.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ...checks import require
from ...errors import ConfigError, DeltapropError
from ...io import save
from ...report import warn
from .base import Callback
from .tensorboard import check_log_dir, is_number

DEFAULT_FOLDER = "mlruns"
#: MLflow refuses longer parameter values (an architecture's JSON can reach it).
MAX_PARAM = 6000
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")  # "sqlite:", "file:", "http:" (not "C:")


def tracking_store(
    uri: str | os.PathLike | None, name: str = "tracking_uri"
) -> tuple[str, str | None]:
    """(the tracking URI, the artifact folder of new experiments or None for the store's own).

    None takes ``MLFLOW_TRACKING_URI`` when it is set (MLflow's own convention), else the
    local folder ``./mlruns``; a path without a scheme is such a local folder (created and
    checked for writing now: ConfigError naming ``name``); a URI (``sqlite:///x.db``,
    ``http://host:5000``, ``file:/path``) is passed to MLflow as it is."""
    if uri is None:
        uri = os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_FOLDER
    if not isinstance(uri, (str, os.PathLike)) or not os.fspath(uri):
        raise ConfigError(f"{name}: expected a tracking URI or a folder, got {uri!r}")
    uri = os.fspath(uri)
    if _SCHEME.match(uri):
        return uri, None
    folder = os.path.abspath(check_log_dir(uri, name))
    return "sqlite:///" + os.path.join(folder, "mlflow.db"), os.path.join(folder, "artifacts")


class MLflowLogger(Callback):
    """Log a ``fit`` as one MLflow run: parameters at the start, every number of the epoch's
    logs as a metric per epoch (step = the epoch, counting from 1), and at the end the model
    file (:func:`deltaprop.save`, ``model.safetensors``) as an artifact. The run ends
    FINISHED, or FAILED when training raised.

    Args:
        tracking_uri: where runs go (see :func:`tracking_store`): None is
            ``MLFLOW_TRACKING_URI`` or ``./mlruns``.
        experiment: the experiment's name (made if missing).
        run_name: the run's name (MLflow makes one up when None).
        params: the parameters to log (``Recipe.to_dict()`` does for a recipe; None values
            are left out); None logs what the Trainer knows: optimizer, learning rate, loss,
            task, epochs, descent, batch size, clipping and penalties, parameter count.
        log_model: log the trained model file as an artifact.

    Attributes:
        run_id: the MLflow run of the last ``fit`` (None before).
        tracking_uri: the store's URI, for ``MlflowClient(tracking_uri)``.
    """

    def __init__(
        self,
        tracking_uri: str | os.PathLike | None = None,
        experiment: str = "deltaprop",
        run_name: str | None = None,
        params: dict[str, Any] | None = None,
        log_model: bool = True,
    ) -> None:
        self._mlflow = require("mlflow", "mlflow", "MLflowLogger")
        self.tracking_uri, self._artifacts = tracking_store(tracking_uri)
        for key, value in (("experiment", experiment), ("run_name", run_name)):
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigError(f"{key}: expected a non-empty string, got {value!r}")
        if params is not None and not isinstance(params, dict):
            raise ConfigError(f"params: expected a dict or None, got {type(params).__name__}")
        if not isinstance(log_model, bool):
            raise ConfigError(f"log_model: expected True or False, got {log_model!r}")
        self.experiment, self.run_name, self.params = experiment, run_name, params
        self.log_model = log_model
        self.run_id: str | None = None
        self._client: Any = None
        self._open = False  # a run was started and not yet ended

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        with _mlflow_quiet():  # the first client of a store makes it (a database, its tables)
            client = self._client = MlflowClient(self.tracking_uri)
            found = client.get_experiment_by_name(self.experiment)
        if found is not None:
            experiment_id = found.experiment_id
        else:
            experiment_id = client.create_experiment(self.experiment, self._artifacts)
        self._open = True
        self.run_id = client.create_run(experiment_id, run_name=self.run_name).info.run_id
        params = self.params if self.params is not None else self._trainer_params()
        client.log_batch(self.run_id, params=[
            Param(str(k), _param_text(v)) for k, v in params.items() if v is not None
        ])  # fmt: skip

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(key, float(value), now, epoch + 1)
                   for key, value in (logs or {}).items() if is_number(value)]  # fmt: skip
        if metrics:
            self._client.log_batch(self.run_id, metrics=metrics)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._client is None or not self._open:
            return
        failed = "error" in (logs or {})
        if self.log_model and not failed:
            self._log_model()
        self._client.set_terminated(self.run_id, "FAILED" if failed else "FINISHED")
        self._open = False

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        """Add the numbers among ``metrics`` to the last run (also after it ended), e.g. the
        test scores that :func:`deltaprop.run` computes after ``fit``; ``step`` defaults to
        the last epoch. Other values (a report's dicts, the data set's name) are skipped."""
        from mlflow.entities import Metric

        if self.run_id is None:
            raise ConfigError("log_metrics: no run yet; the logger starts one when fit starts")
        if step is None:
            history = getattr(self.trainer, "history", None)
            step = len(getattr(history, "epoch", []) or [0])
        now = int(time.time() * 1000)
        found = [Metric(k, float(v), now, step) for k, v in metrics.items() if is_number(v)]
        if found:
            self._client.log_batch(self.run_id, metrics=found)

    def _log_model(self) -> None:
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.safetensors")
            try:
                save(self.model, path, metadata={"mlflow_run_id": self.run_id})
            except DeltapropError as exc:  # NaN weights: never passed off as a model
                warn(f"MLflowLogger: the model was not logged: {exc}")
                return
            self._client.log_artifact(self.run_id, path)

    def _trainer_params(self) -> dict[str, Any]:
        t = self.trainer
        history = getattr(t, "history", None)
        params: dict[str, Any] = dict(getattr(history, "params", None) or {})
        if t.optimizer is not None:
            params["optimizer"] = type(t.optimizer).__name__
            params["lr"] = t.optimizer.param_groups[0]["lr"]
        params.update(
            loss=type(t.loss).__name__, task=t.task, clip_norm=t.clip_norm,
            clip_value=t.clip_value, l1=t.l1, l2=t.l2,
            parameters=sum(int(p.size) for p in t.model.parameters()),
        )  # fmt: skip
        return params

    def __repr__(self) -> str:
        return f"MLflowLogger(tracking_uri={self.tracking_uri!r}, experiment={self.experiment!r})"


@contextmanager
def _mlflow_quiet() -> Iterator[None]:
    """Keep MLflow's own chatter about its store ("Creating initial MLflow database tables",
    its database library's deprecation warnings) off the user's terminal: it is not about
    their run. Only the block's warnings and MLflow's log level, restored after."""
    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        logger.setLevel(level)


def _param_text(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value):
        text = repr(value)
    elif isinstance(value, (list, tuple, dict)):
        text = json.dumps(value)
    else:
        text = str(value)
    return text if len(text) <= MAX_PARAM else text[: MAX_PARAM - 3] + "..."
