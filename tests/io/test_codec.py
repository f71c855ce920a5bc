"""deltaprop.io.codec: nested state trees <-> JSON plus named arrays."""

import json

import numpy as np
import pytest

from deltaprop import io
from deltaprop.errors import ConfigError


def test_values_json_cannot_hold_survive_the_round_trip():
    value = {
        "inf": float("inf"),
        "ninf": -float("inf"),
        "nan": float("nan"),
        "tuple": (0.9, 0.999),
        "np": np.float32(0.1),
        "int64": np.int64(2**40),
        "ints": {0: {"step": 3, "m": np.arange(6, dtype=np.float32).reshape(2, 3)}},
        "scalar_array": np.array(1.5, dtype=np.float64),
        "__looks_tagged": [None, True, "s"],
    }
    tensors = {}
    text = json.dumps(io.encode(value, "v", tensors), allow_nan=False)
    back = io.decode(json.loads(text), tensors)
    assert back["inf"] == float("inf") and back["ninf"] == -float("inf")
    assert back["nan"] != back["nan"]
    assert back["tuple"] == (0.9, 0.999)
    assert type(back["np"]) is np.float32 and back["np"] == np.float32(0.1)
    assert type(back["int64"]) is np.int64 and back["int64"] == 2**40
    assert back["ints"][0]["step"] == 3
    assert np.array_equal(back["ints"][0]["m"], value["ints"][0]["m"])
    assert back["scalar_array"].shape == () and back["scalar_array"] == 1.5
    assert back["__looks_tagged"] == [None, True, "s"]
    with pytest.raises(ConfigError, match="cannot save v/x"):
        io.encode({"x": object()}, "v", {})


def test_arrays_are_named_after_where_they_were_and_never_clash():
    tensors = {}
    tree = io.encode({"a": [np.zeros(2), np.ones(3)], "b": np.ones(1)}, "x", tensors)
    assert tree == {
        "a": [{"__array__": "x/a/0"}, {"__array__": "x/a/1"}],
        "b": {"__array__": "x/b"},
    }
    io.encode(np.full(2, 7.0), "x/b", tensors)  # the same place again gets another name
    assert sorted(tensors) == ["x/a/0", "x/a/1", "x/b", "x/b#2"]


def test_decode_refuses_what_encode_never_writes():
    with pytest.raises(ValueError, match="not among the tensors"):
        io.decode({"__array__": "missing"}, {})
    with pytest.raises(ValueError, match="bad float"):
        io.decode({"__float__": "1e999"}, {})


def test_to_json_is_compact_and_refuses_nan():
    assert io.to_json({"a": [1, 2.5]}) == '{"a":[1,2.5]}'
    with pytest.raises(ValueError):
        io.to_json({"a": float("nan")})


def test_tree_diff_names_the_first_difference():
    assert io.tree_diff({"a": [1, 2]}, {"a": [1, 2]}, "m") is None
    assert io.tree_diff({"a": [1, 2]}, {"a": [1, 3]}, "m") == "m.a[1]: 2 in the file, 3 here"
    assert io.tree_diff({"a": 1}, {"a": 1, "b": 2}, "m") == "m.b: absent in the file"
    assert io.tree_diff([1], [1, 2], "m") == "m: 1 entries in the file, 2 here"
