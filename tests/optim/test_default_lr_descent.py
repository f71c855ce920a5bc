"""optim.default_lr(name, descent): a learning rate per optimizer and per descent mode, and the
recipe takes it (issue 8, point 1: stochastic SGD at 0.1 ended at chance on digits)."""

from __future__ import annotations

import pytest

import deltaprop as dp
from deltaprop import nn, optim
from deltaprop.errors import ConfigError
from deltaprop.recipe import Recipe, build_optimizer


@pytest.mark.parametrize("name", sorted(optim.OPTIMIZERS))
def test_stochastic_smaller_batch_larger_minibatch_unchanged(name):
    base = optim.default_lr(name)
    assert optim.default_lr(name, "minibatch") == base == optim.SUGGESTED_LR[name]
    assert 0 < optim.default_lr(name, "stochastic") < base < optim.default_lr(name, "batch")
    assert optim.default_lr(name.upper(), " Stochastic ") == optim.default_lr(name, "stochastic")


def test_bad_descent_names_the_argument():
    with pytest.raises(ConfigError, match=r"descent: unknown name 'online'; expected one of"):
        optim.default_lr("sgd", "online")


def test_recipe_takes_the_rate_of_its_descent_mode_and_an_explicit_lr_wins():
    params = nn.Linear(3, 2).parameters()
    for descent in ("stochastic", "minibatch", "batch"):
        for name in ("sgd", "adam"):
            opt = build_optimizer(Recipe(optimizer=name, descent=descent), params)
            assert opt.param_groups[0]["lr"] == optim.default_lr(name, descent)
    opt = build_optimizer(Recipe(descent="stochastic", lr=0.1), params)
    assert opt.param_groups[0]["lr"] == 0.1
    # the Trainer learns the mode only at fit: it keeps the per-name rate
    trainer = dp.Trainer(nn.Linear(3, 2), "cross_entropy", "sgd")
    assert trainer.optimizer.param_groups[0]["lr"] == optim.default_lr("sgd")


@pytest.mark.parametrize("seed", [0, 1])
def test_stochastic_default_trains_digits_well_above_chance(seed):
    # On main the default was SGD's 0.1 here: the ReLUs die and accuracy stays near 0.1.
    result = dp.run(Recipe(dataset="digits", descent="stochastic", epochs=2, seed=seed),
                    verbose=False)  # fmt: skip
    assert result.metrics["test_accuracy"] > 0.85
