"""StallWarning: a run that is not learning says so, with the likely cause (issue 8, point 1)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, optim, report
from deltaprop.errors import ConfigError
from deltaprop.recipe import Recipe, build_callbacks
from deltaprop.train.callbacks import StallWarning


def _data(n=240, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    X = rng.normal(size=(n, 4)) + y[:, None] * 2.0  # easy: well separated
    return X.astype(np.float32), y


def _fit(model, lr, log, epochs=8, descent="minibatch"):
    X, y = _data()
    stall = StallWarning(patience=4, log=log)
    trainer = dp.Trainer(model, "cross_entropy", optim.SGD(model.parameters(), lr=lr),
                         metrics=["accuracy"], callbacks=[stall])  # fmt: skip
    trainer.fit(X, y, epochs=epochs, descent=descent, batch_size=16, verbose=False, seed=0)
    return stall


def test_dead_relus_are_named_with_a_smaller_lr():
    dp.seed(0)
    model = nn.mlp(4, [16, 8], 3, "relu", "he")
    model[0].bias.data[...] = -100.0  # every unit of the first hidden layer is dead
    lines = []
    stall = _fit(model, 0.5, lines.append)
    assert lines == [stall.warned]
    line = lines[0]
    assert line.startswith("the model is not learning: ")
    assert "the training loss has not fallen" in line and "for 4 epochs (epochs 1-4)" in line
    assert "dead ReLU units (layer 0: 100%" in line and "lr 0.5, batch 16 descent" in line
    assert "Try lr 0.05" in line and "activation leaky_relu" in line


def test_too_small_lr_says_raise_it():
    dp.seed(0)
    lines = []
    _fit(nn.mlp(4, [16], 3, "relu", "he"), 1e-6, lines.append)
    assert len(lines) == 1 and "the training loss has not fallen" in lines[0]
    assert "learning rate too low (lr 1e-06" in lines[0] and "Try lr 1e-05" in lines[0]


def test_a_run_that_learns_is_quiet():
    dp.seed(0)
    lines = []
    stall = _fit(nn.mlp(4, [16], 3, "relu", "he"), 0.1, lines.append)
    assert lines == [] and stall.warned is None


def test_recipe_adds_it_and_the_cli_names_flags(capsys):
    cbs = build_callbacks(Recipe())
    assert [type(c).__name__ for c in cbs] == ["StallWarning"]
    assert cbs[0].show("lr") == "lr"
    assert build_callbacks(Recipe(source="cli"))[0].show("lr") == "--lr"
    # a checkpoint records the callbacks: files from before this callback must still resume
    assert build_callbacks(Recipe(checkpoint="x.ckpt")) == []
    assert build_callbacks(Recipe(resume="x.ckpt")) == []
    with pytest.raises(ConfigError, match="log: expected a callable or None, got int"):
        StallWarning(log=3)


def test_run_warns_through_log_and_is_silent_when_not_verbose(capsys):
    # digits, batch size 1 at SGD's minibatch rate: the ReLUs die (issue 8's case)
    recipe = Recipe(dataset="digits", descent="stochastic", lr=0.1, epochs=6, hidden="64,64",
                    log_every=100)  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = dp.run(recipe, verbose=False, log=lambda line: None)
    if result.metrics["train_accuracy"] > 0.3:
        pytest.skip("this seed happened to train")  # the warning is about runs that do not
    lines = [str(w.message) for w in caught if issubclass(w.category, report.DeltapropWarning)]
    assert len(lines) == 1 and "not learning" in lines[0] and "lr 0.01" in lines[0]
    with report.quiet():  # the run's own channel: --quiet silences it
        dp.run(recipe, verbose=False)
    assert "not learning" not in capsys.readouterr().out


def test_chance_is_one_over_the_number_of_outputs():
    # Linear keeps its weight as (in, out): the outputs are its second axis, not its first
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    trainer = dp.Trainer(
        model, loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(model.parameters(), lr=0.1)
    )
    cb = StallWarning(log=None)
    cb.set_trainer(trainer)
    assert cb._chance() == pytest.approx(0.1)
