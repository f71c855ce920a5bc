"""Shared by the model-file tests: a small model of many layer kinds, saved with metadata."""

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import io, nn


def _make_model():
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(6, 8, init="he"),
        nn.LeakyReLU(0.2),
        nn.Dropout(0.3),
        nn.Linear(8, 8, bias=False, init="xavier"),
        nn.Sequential(nn.GELU("tanh"), nn.Identity()),
        nn.Linear(8, 3, bias_init="torch_default"),
        nn.LogSoftmax(axis=1),
    )


@pytest.fixture
def make_model():
    """The factory of the model the model-file tests save: inputs (n, 2, 3), outputs (n, 3)."""
    return _make_model


@pytest.fixture
def X():
    return np.random.default_rng(0).normal(size=(5, 2, 3)).astype(np.float32)


@pytest.fixture
def saved(tmp_path):
    """(model, path): the model saved with metadata {"dataset": "wine", "mean": [0, 1, 2]}."""
    dp.seed(0)
    model = _make_model()
    path = tmp_path / "model.safetensors"
    io.save(model, path, metadata={"dataset": "wine", "mean": np.arange(3.0)})
    return model, path
