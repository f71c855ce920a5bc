"""The build functions make what `deltaprop train` made: data split, model, optimizer, schedule,
callbacks, Trainer."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, optim
from deltaprop.errors import ConfigError
from deltaprop.recipe import (
    Recipe,
    build_callbacks,
    build_model,
    build_optimizer,
    build_schedule,
    build_trainer,
    load_data,
)


def kinds(model):
    return [type(m).__name__ for m in model]


def test_build_model_is_nn_mlp():
    m = build_model(Recipe(hidden="8,4", activation="tanh", dropout=0.2, batchnorm=True), 5, 3)
    assert kinds(m) == ["Linear", "BatchNorm1d", "Tanh", "Dropout", "Linear", "BatchNorm1d",
                        "Tanh", "Dropout", "Linear"]  # fmt: skip
    assert (m[0].in_features, m[0].out_features, m[-1].out_features) == (5, 8, 3)
    assert kinds(build_model(Recipe(hidden="", layernorm=True), 5, 2)) == ["Linear"]
    assert "LayerNorm" in kinds(build_model(Recipe(hidden="4", layernorm=True), 5, 2))
    dp.seed(0)
    a = build_model(Recipe(hidden="4", init="he"), 3, 2)
    dp.seed(0)
    b = nn.mlp(3, [4], 2, "relu", "he")
    for (ka, pa), (kb, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert ka == kb
        np.testing.assert_array_equal(pa.numpy(), pb.numpy())


def test_nn_mlp_checks_its_arguments():
    with pytest.raises(ConfigError, match="^norm:"):
        nn.mlp(3, [4], 2, norm="groupnorm")
    with pytest.raises(ConfigError, match="^hidden:"):
        nn.mlp(3, [0], 2)
    with pytest.raises(ConfigError, match="^dropout:"):
        nn.mlp(3, [4], 2, dropout=1.0)


def test_build_optimizer_defaults_and_options():
    params = nn.Linear(3, 2).parameters()
    for name, lr in optim.SUGGESTED_LR.items():
        opt = build_optimizer(Recipe(optimizer=name), params)
        assert opt.defaults["lr"] == lr, name
    opt = build_optimizer(Recipe(optimizer="momentum"), params)
    assert isinstance(opt, optim.SGD) and opt.defaults["momentum"] == 0.9
    opt = build_optimizer(Recipe(optimizer="sgd", momentum=0.5, weight_decay=1e-3, lr=0.2), params)
    assert (opt.defaults["momentum"], opt.defaults["weight_decay"], opt.defaults["lr"]) == (
        0.5, 1e-3, 0.2)  # fmt: skip
    assert isinstance(build_optimizer(Recipe(optimizer="adamw"), params), optim.AdamW)


def test_build_schedule_and_callbacks():
    opt = build_optimizer(Recipe(), nn.Linear(3, 2).parameters())
    assert build_schedule(Recipe(), opt) is None
    assert isinstance(build_schedule(Recipe(warmup=3), opt), optim.LinearLR)
    assert isinstance(build_schedule(Recipe(schedule="cosine"), opt), optim.CosineAnnealingLR)
    assert isinstance(build_schedule(Recipe(schedule="step", warmup=2), opt), optim.SequentialLR)
    assert build_schedule(Recipe(schedule="plateau"), opt) is None
    assert [type(c).__name__ for c in build_callbacks(Recipe())] == ["StallWarning"]
    cbs = build_callbacks(Recipe(early_stopping=4, schedule="plateau", epochs=50))
    names = [type(c).__name__ for c in cbs]
    assert names == ["EarlyStopping", "ReduceLROnPlateau", "StallWarning"]
    assert "monitor='val_loss'" in repr(cbs[0]) and cbs[0].patience == 4 and cbs[1].patience == 5


def test_load_data_split_and_standardize():
    r = Recipe(dataset="iris", test_size=0.2, seed=1)
    data = load_data(r)
    assert len(data.X_train) == 120 and len(data.X_test) == 30
    assert data.classification and data.task == "classification" and data.n_out == 3
    assert data.n_in == 4
    np.testing.assert_allclose(data.X_train.mean(0), 0, atol=1e-5)
    assert np.bincount(data.y_test).tolist() == [10, 10, 10]  # stratified
    with pytest.raises(ConfigError, match="^dataset: "):
        load_data(Recipe(dataset="nope"))
    with pytest.raises(ConfigError, match="^--dataset: "):
        load_data(Recipe(dataset="nope", source="cli"))


def test_build_trainer():
    r = Recipe(hidden="4", clip_norm=5.0, l2=1e-4, schedule="cosine", epochs=4)
    t = build_trainer(r, 4, 3, "classification")
    assert isinstance(t, dp.Trainer) and isinstance(t.loss, nn.CrossEntropyLoss)
    assert t.scheduler is not None
    t = build_trainer(r, 4, 1, "regression")
    assert isinstance(t.loss, nn.MSELoss)
    with pytest.raises(ConfigError, match="^task:"):
        build_trainer(r, 4, 1, "clustering")
