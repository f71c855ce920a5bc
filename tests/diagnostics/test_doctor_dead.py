"""The doctor names dead ReLUs when they dominate, and its remedies fit the run: nothing already
set, nothing the descent mode ignores (issue 8, point 1)."""

from __future__ import annotations

import pytest

import deltaprop as dp
from deltaprop.diagnostics import diagnose
from deltaprop.diagnostics.remedies import applicable
from deltaprop.recipe import diagnose_run


def _rec(grads, dead, epoch=0):
    """A record with one layer per gradient norm (the last one is the output layer)."""
    names = [str(2 * i) for i in range(len(grads))]
    layers = {n: {"grad_norm": g, "weight_norm": 1.0, "dead_fraction": d}
              for n, g, d in zip(names, grads, dead, strict=True)}  # fmt: skip
    ratio = grads[0] / grads[-1] if grads[-1] else float("nan")
    return {"epoch": epoch, "step": None, "first_last_ratio": ratio, "layers": layers}


STOCHASTIC = {"activation": "relu", "init": "he", "hidden": "256,128", "descent": "stochastic",
              "optimizer": "sgd", "lr": 0.1, "batch_size": 32}  # fmt: skip


def test_a_dead_layer_wins_over_the_vanishing_ratio_it_causes():
    # the run: layer 2 all dead, so no gradient reaches layer 0 (ratio 0 / nan)
    records = [_rec([0.09, 0.36, 2.8], [0.0, 0.95, None]),
               _rec([0.0, 0.0, 0.0], [0.0, 1.0, None], 1)]  # fmt: skip
    v = diagnose(records, STOCHASTIC)
    assert v.status == "dead_units" and "layer 2: 100%" in v.findings[0]
    assert v.remedies[0].changes == {"lr": 0.01}
    # more than half dead and a first layer with no gradient at all: dead units too
    v = diagnose([_rec([0.0, 0.5, 1.0], [0.0, 0.6, None])], STOCHASTIC)
    assert v.status == "dead_units"


def test_a_real_vanishing_gradient_stays_vanishing():
    # some dead units, but the first layer still gets a (tiny) gradient: vanishing comes first
    v = diagnose([_rec([1e-7, 1e-3, 1.0], [0.6, 0.0, None])], {"activation": "sigmoid"})
    assert v.status == "vanishing"


def test_remedies_never_repeat_what_is_set_nor_what_stochastic_ignores():
    records = [_rec([0.0, 0.0, 0.0], [0.0, 1.0, None])]
    changes = [r.changes for r in diagnose(records, STOCHASTIC).remedies]
    assert changes == [{"lr": 0.01}, {"descent": "minibatch"}, {"activation": "leaky_relu"}]
    # vanishing with relu + he already set: only what is not set yet
    v = diagnose([_rec([1e-7, 1.0], [0.0, None])], {**STOCHASTIC, "descent": "minibatch"})
    assert v.status == "vanishing"
    for r in v.remedies:
        assert r.changes.get("activation") != "relu" and r.changes.get("init") != "he"
    assert "Try batchnorm" in v.remedies[0].text and v.remedies[0].changes == {"batchnorm": True}


def test_applicable_rewrites_batch_size_for_the_mode():
    noisy = [("use larger batches", {"batch_size": 64}), ("add batch normalization",
                                                          {"batchnorm": True})]  # fmt: skip
    assert applicable(noisy, {"descent": "stochastic"}, 0.1) == [
        ("use minibatch descent", {"descent": "minibatch"})]  # fmt: skip
    text, change = applicable(noisy, {"descent": "batch"}, 0.1)[0]
    assert change == {"lr": 0.05} and "halve" in text
    assert applicable(noisy, {"descent": "minibatch", "layernorm": True}, 0.1) == [
        noisy[0],
        ("add batch normalization", {"batchnorm": True, "layernorm": False}),
    ]
    assert applicable([("x", {"activation": "ReLU"})], {}, 0.1) == []  # relu is the default
    assert applicable([("more data", {})], {}, 0.1) == [("more data", {})]


def test_noisy_curve_in_stochastic_mode_does_not_suggest_a_batch_size():
    hist = {"loss": [1.0, 0.5, 0.9, 0.4, 0.3], "accuracy": [0.7, 0.8, 0.7, 0.9, 0.95]}
    v = diagnose(hist, STOCHASTIC)
    assert v.curve == "noisy"
    assert all("batch_size" not in r.changes for r in v.remedies)
    assert {"descent": "minibatch"} in [r.changes for r in v.remedies]


@pytest.mark.slow
def test_digits_stochastic_lr_0_1_is_diagnosed_as_dead_relus():
    recipe = dp.Recipe(dataset="digits", descent="stochastic", lr=0.1, epochs=3, init="he")
    result = diagnose_run(recipe)
    v = result.verdict
    assert v.status == "dead_units", (v.status, v.findings)
    assert v.remedies[0].changes == {"lr": 0.01}
    for r in v.remedies:
        assert "batch_size" not in r.changes and "batchnorm" not in r.changes
        assert r.changes.get("activation") != "relu" and r.changes.get("init") != "he"
