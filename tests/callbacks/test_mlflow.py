"""dp.callbacks.MLflowLogger: what it logs, read back with MLflow's client on the local store.

MLflow makes its store (a SQLite database) on first use, which takes seconds: the tests share
one store and are marked slow."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn
from deltaprop.errors import ConfigError

pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return tmp_path_factory.mktemp("mlflow") / "mlruns"


def fit(logger, toy, epochs=3, callbacks=()):
    X, y = toy(n=48)
    dp.seed(0)
    model = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 2))
    trainer = dp.Trainer(
        model, nn.CrossEntropyLoss(), "adam", lr=0.01, callbacks=[logger, *callbacks]
    )
    history = trainer.fit(X, y, epochs=epochs, batch_size=16, validation_split=0.25, verbose=False)
    return trainer, history, X


@pytest.mark.slow
def test_params_metrics_and_the_model_file_are_logged(store, toy, tmp_path):
    logger = dp.callbacks.MLflowLogger(tracking_uri=store, experiment="tests", run_name="first")
    assert logger.tracking_uri == "sqlite:///" + os.path.join(str(store), "mlflow.db")
    trainer, history, X = fit(logger, toy)
    client = MlflowClient(logger.tracking_uri)
    run = client.get_run(logger.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "first"
    params = run.data.params
    assert params["optimizer"] == "Adam" and float(params["lr"]) == 0.01
    assert params["epochs"] == "3" and params["loss"] == "CrossEntropyLoss"
    assert params["parameters"] == str(3 * 6 + 6 + 6 * 2 + 2)
    for key in ("loss", "accuracy", "val_loss", "lr"):
        series = client.get_metric_history(logger.run_id, key)
        assert sorted(m.step for m in series) == [1, 2, 3]
        values = [m.value for m in sorted(series, key=lambda m: m.step)]
        np.testing.assert_allclose(values, history.history[key])
    assert [a.path for a in client.list_artifacts(logger.run_id)] == ["model.safetensors"]
    path = client.download_artifacts(logger.run_id, "model.safetensors", str(tmp_path))
    model, meta = dp.load(path, return_metadata=True)
    assert meta == {"mlflow_run_id": logger.run_id}
    np.testing.assert_array_equal(model(dp.tensor(X)).numpy(), trainer.model(dp.tensor(X)).numpy())
    logger.log_metrics({"test_accuracy": 0.5, "dataset": "toy", "report": {}})
    (final,) = client.get_metric_history(logger.run_id, "test_accuracy")
    assert (final.value, final.step) == (0.5, 3)


@pytest.mark.slow
def test_given_params_and_a_failed_run(store, toy):
    class Boom(dp.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise RuntimeError("boom")

    params = {"hidden": "6", "seed": None, "arch": [{"type": "relu"}]}
    logger = dp.callbacks.MLflowLogger(store, experiment="tests", params=params)
    with pytest.raises(RuntimeError):
        fit(logger, toy, callbacks=[Boom()])
    client = MlflowClient(logger.tracking_uri)
    run = client.get_run(logger.run_id)
    assert run.info.status == "FAILED"
    assert run.data.params == {"hidden": "6", "arch": '[{"type": "relu"}]'}  # None left out
    assert client.list_artifacts(logger.run_id) == []  # no model from a failed run


@pytest.mark.slow
def test_the_default_store_is_mlruns_in_the_working_folder(store, monkeypatch, toy):
    tmp_path = store.parent  # the shared store is <tmp>/mlruns: made once, reused here
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    logger = dp.callbacks.MLflowLogger(log_model=False)
    assert logger.tracking_uri == "sqlite:///" + str(tmp_path / "mlruns" / "mlflow.db")
    fit(logger, toy, epochs=1)
    run = MlflowClient(logger.tracking_uri).get_run(logger.run_id)
    assert run.info.status == "FINISHED" and "loss" in run.data.metrics
    assert os.path.isfile(tmp_path / "mlruns" / "mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")  # MLflow's convention
    assert dp.callbacks.MLflowLogger().tracking_uri == "sqlite:///elsewhere.db"


def test_an_unusable_store_is_one_error_naming_it(tmp_path, monkeypatch):
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(ConfigError, match="tracking_uri: .*file is a file; expected a folder"):
        dp.callbacks.MLflowLogger(afile)
    if os.path.isdir("/proc/self"):
        with pytest.raises(
            ConfigError, match="tracking_uri: cannot create the folder /proc/mlruns"
        ):
            dp.callbacks.MLflowLogger("/proc/mlruns")
    with pytest.raises(ConfigError, match="experiment: expected a non-empty string"):
        dp.callbacks.MLflowLogger(tmp_path, experiment="")
    with pytest.raises(ConfigError, match="params: expected a dict"):
        dp.callbacks.MLflowLogger(tmp_path, params=[1])
    with pytest.raises(ConfigError, match="log_model: expected True or False"):
        dp.callbacks.MLflowLogger(tmp_path, log_model=1)
    with pytest.raises(ConfigError, match="log_metrics: no run yet"):
        dp.callbacks.MLflowLogger(tmp_path).log_metrics({"a": 1.0})
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(ConfigError, match=r"MLflowLogger: needs mlflow.*deltaprop\[mlflow\]"):
        dp.callbacks.MLflowLogger(tmp_path)
