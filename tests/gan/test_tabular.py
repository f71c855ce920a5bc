"""TabularTransformer: mode-specific normalization keeps both modes of a bimodal column,
one-hot categories, encode -> decode round trip, state round trip, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.gan import TabularTransformer


def _data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    bimodal = np.where(rng.random(n) < 0.5, rng.normal(-5, 0.5, n), rng.normal(5, 0.5, n))
    return np.c_[bimodal, rng.normal(10, 2, n), rng.integers(0, 3, n), np.full(n, 7.0)]


def test_a_bimodal_column_gets_two_modes_and_categories_are_one_hot():
    t = TabularTransformer().fit(_data())
    bimodal, normal, cat, const = t.columns
    assert bimodal["kind"] == "continuous" and len(bimodal["means"]) == 2
    assert sorted(np.round(bimodal["means"])) == [-5, 5]
    assert normal["kind"] == "continuous" and len(normal["means"]) <= 4  # a few overlapping
    assert cat == {"kind": "categorical", "values": [0.0, 1.0, 2.0]}
    assert const["kind"] == "continuous" and const["means"] == [7.0]
    spans = t.spans
    assert spans[0] == (0, 1, "tanh") and spans[1] == (1, 3, "softmax")
    assert t.width == spans[-1][1]


def test_encode_decode_round_trip_and_layout():
    X = _data()
    t = TabularTransformer().fit(X)
    E = t.encode(X)
    assert E.shape == (len(X), t.width) and E.dtype == np.float32
    for start, stop, kind in t.spans:
        block = E[:, start:stop]
        if kind == "tanh":
            assert np.all(np.abs(block) < 1)
        else:
            np.testing.assert_array_equal(block.sum(1), 1.0)
    np.testing.assert_allclose(t.decode(E), X, atol=1e-4)


def test_categorical_none_and_explicit_indices():
    X = _data()
    assert all(c["kind"] == "continuous" for c in TabularTransformer(None).fit(X).columns)
    kinds = [c["kind"] for c in TabularTransformer([0]).fit(X).columns]
    assert kinds == ["categorical", "continuous", "continuous", "continuous"]
    with pytest.raises(dp.ConfigError, match="categorical: expected an integer in"):
        TabularTransformer([9]).fit(X)
    with pytest.raises(dp.ConfigError, match="categorical: expected 'auto'"):
        TabularTransformer("some")


def test_activate_is_tanh_and_softmax_per_block():
    t = TabularTransformer().fit(_data())
    raw = dp.tensor(np.random.default_rng(0).standard_normal((4, t.width)))
    out = t.activate(raw).numpy()
    for start, stop, kind in t.spans:
        if kind == "tanh":
            np.testing.assert_allclose(out[:, start], np.tanh(raw.numpy()[:, start]), rtol=1e-6)
        else:
            np.testing.assert_allclose(out[:, start:stop].sum(1), 1.0, rtol=1e-6)
    noise = np.random.default_rng(1).gumbel(size=(4, t.width))
    sharp = t.activate(raw, noise, tau=0.01).numpy()  # Gumbel-softmax: nearly one-hot
    for start, stop, kind in t.spans:
        if kind == "softmax":
            assert np.all(sharp[:, start:stop].max(1) > 0.9)


def test_state_round_trip_and_malformed_state():
    X = _data()
    t = TabularTransformer().fit(X)
    u = TabularTransformer.from_state(t.state())
    np.testing.assert_array_equal(u.encode(X), t.encode(X))
    bad = t.state()
    bad["columns"][0]["stds"] = [-1.0, 1.0]
    with pytest.raises(dp.ModelFileError, match="malformed"):
        TabularTransformer.from_state(bad)
    with pytest.raises(dp.ModelFileError, match="malformed"):
        TabularTransformer.from_state({"columns": []})


def test_bad_input():
    t = TabularTransformer()
    with pytest.raises(dp.ConfigError, match="not fitted"):
        t.encode(np.zeros((2, 2)))
    with pytest.raises(dp.DataError, match="X: holds NaN"):
        t.fit(np.array([[1.0, np.nan], [2.0, 3.0]]))
    with pytest.raises(dp.DataError, match="X: expected a non-empty 2-D array"):
        t.fit(np.zeros(3))
    t.fit(_data())
    with pytest.raises(dp.DataError, match="expected 4 columns"):
        t.encode(np.zeros((2, 3)))
    with pytest.raises(dp.DataError, match=r"E: expected shape \(N, "):
        t.decode(np.zeros((2, 3)))
