"""GradualUnfreezing: the output layer first, then one more group per ``every`` epochs."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn
from deltaprop.callbacks import Callback, GradualUnfreezing
from deltaprop.errors import ConfigError


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(32, 4)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.int64)


class Spy(Callback):
    def __init__(self, model):
        self.model_ = model
        self.seen = []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append([n for n, p in self.model_.named_parameters() if p.requires_grad])


def test_unfreezes_from_the_top_every_n_epochs_and_restores_the_flags():
    dp.seed(0)
    model = nn.mlp(4, [6, 5], 2)
    first = model[0].weight.numpy().copy()
    spy = Spy(model)
    callbacks = [GradualUnfreezing(every=2), spy]
    trainer = dp.Trainer(model, "cross_entropy", "adam", callbacks=callbacks)
    trainer.fit(*_data(), epochs=5, verbose=False)
    head, middle, bottom = ["4.weight", "4.bias"], ["2.weight", "2.bias"], ["0.weight", "0.bias"]
    assert spy.seen == [head, head, middle + head, middle + head, bottom + middle + head]
    assert not np.array_equal(model[0].weight.numpy(), first)  # trained in epoch 5
    assert all(p.requires_grad for p in model.parameters())


def test_explicit_groups_and_a_user_frozen_layer_kept_after_fit():
    dp.seed(0)
    model = nn.mlp(4, [6, 5], 2)
    model.freeze("0")
    first = model[0].weight.numpy().copy()
    spy = Spy(model)
    cb = GradualUnfreezing(groups=[["2"]], every=1)
    dp.Trainer(model, "cross_entropy", "sgd", callbacks=[cb, spy]).fit(*_data(), epochs=2,
                                                                      verbose=False)  # fmt: skip
    assert spy.seen[0] == ["4.weight", "4.bias"]
    assert spy.seen[1] == ["2.weight", "2.bias", "4.weight", "4.bias"]
    np.testing.assert_array_equal(model[0].weight.numpy(), first)
    assert not model[0].weight.requires_grad  # the user's own freezing is given back


def test_bad_arguments():
    with pytest.raises(ConfigError, match="every"):
        GradualUnfreezing(every=0)
    with pytest.raises(ConfigError, match="groups"):
        GradualUnfreezing(groups="0")
    model = nn.mlp(4, [6], 2)
    trainer = dp.Trainer(model, "cross_entropy", "sgd", callbacks=[GradualUnfreezing(["9"])])
    before = model.state_dict()
    with pytest.raises(ConfigError, match=r"groups\[0\]: .*'9'"):
        trainer.fit(*_data(), epochs=1, verbose=False)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    linear = dp.Trainer(nn.mlp(4, [], 2), "cross_entropy", "sgd", callbacks=[GradualUnfreezing()])
    with pytest.raises(ConfigError, match="no layer below its output"):
        linear.fit(*_data(), epochs=1, verbose=False)
