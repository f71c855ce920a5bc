"""Module.evaluating() and Module.training_mode(): modes as context managers."""

from __future__ import annotations

import pytest

from deltaprop import nn


def model():
    return nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.Sequential(nn.BatchNorm1d(4)))


def flags(m):
    return [sub.training for sub in m.modules()]


def test_evaluating_sets_eval_everywhere_and_restores_each_flag():
    m = model()
    m[2][0].eval()  # a part the user froze: must stay frozen afterwards
    before = flags(m)
    assert before == [True, True, True, True, False]
    with m.evaluating() as inside:
        assert inside is m and not any(flags(m))
    assert flags(m) == before


def test_training_mode_is_the_opposite_and_restores_too():
    m = model().eval()
    with m.training_mode():
        assert all(flags(m))
    assert not any(flags(m))
    with m.training_mode(False):
        assert not any(flags(m))


def test_flags_come_back_when_the_block_raises():
    m = model()
    m[1].eval()
    before = flags(m)
    with pytest.raises(RuntimeError, match="boom"), m.evaluating():
        raise RuntimeError("boom")
    assert flags(m) == before
