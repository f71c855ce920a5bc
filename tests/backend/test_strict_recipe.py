"""The run recipe (what ``deltaprop train --device cuda`` runs) on the strict device: a CSV
read, standardized and split on the host, trained on the device with early stopping, batch
norm, dropout, an L2 penalty and clipping by value, scored and saved: the CPU run's metrics,
and a saved model that predicts on the host. The recipe accepts "cpu" and "cuda" only; the
test adds "strict" to what it checks."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.recipe import validate


@pytest.fixture
def csv(tmp_path):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((150, 4))
    y = np.where(X[:, 0] + X[:, 1] * X[:, 2] > 0, "up", "down")
    rows = [",".join(f"{v:.4f}" for v in x) + f",{t}" for x, t in zip(X, y)]
    path = tmp_path / "d.csv"
    path.write_text("a,b,c,d,label\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_the_recipe_on_the_device_scores_as_on_the_cpu(csv, tmp_path, monkeypatch, task):
    monkeypatch.setattr(validate, "DEVICES", (*validate.DEVICES, "strict"))
    settings = dict(dataset=str(csv), epochs=12, early_stopping=3, batchnorm=True, dropout=0.1,
                    l2=1e-3, clip_value=0.5, seed=0)  # fmt: skip
    if task == "regression":
        settings.update(label="a", task="regression", lr=0.01)
    metrics = {}
    for device in ("cpu", "strict"):
        save = tmp_path / f"{device}.safetensors"
        result = dp.run(dp.Recipe(**settings, device=device, save=str(save)), verbose=False)
        metrics[device] = {k: v for k, v in result.metrics.items() if k != "seconds"}
        assert save.exists()
    assert metrics["strict"] == metrics["cpu"]  # NumPy inside the strict device: the same bits
    assert any(key.startswith("test_") for key in metrics["cpu"])
