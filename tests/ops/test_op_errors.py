"""Bad input to the public op functions: a deltaprop error that names the argument at fault."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
import deltaprop.ops as DP
from deltaprop.errors import ConfigError, DataError, DeltapropError, ShapeError


def t(*shape, dtype=np.float64):
    return dp.tensor(np.ones(shape), requires_grad=True, dtype=dtype)


LOGITS = dp.tensor(np.zeros((3, 4)), requires_grad=True)

BAD = [
    # (what, call, error type, message pattern)
    ("matmul inner", lambda: DP.matmul(t(2, 3), t(4, 5)), ShapeError, r"inner.*\(2, 3\).*\(4, 5\)"),
    ("matmul @", lambda: t(2, 3) @ t(2, 3), ShapeError, "matmul: inner dimensions"),
    ("matmul vectors", lambda: t(3) @ t(4), ShapeError, "matmul: inner"),
    ("matmul 0-D", lambda: DP.matmul(t(), t(2)), ShapeError, "matmul: operands"),
    ("linear features", lambda: DP.linear(t(2, 3), t(4, 2)), ShapeError, r"linear: x .*4 feat"),
    ("reshape", lambda: DP.reshape(t(2, 3), (4, 2)), ShapeError, r"reshape.*\(2, 3\).*\(4, 2\)"),
    ("reshape two -1", lambda: t(2, 3).reshape(-1, -1), ShapeError, "reshape"),
    ("transpose repeat", lambda: DP.transpose(t(2, 3), (0, 0)), ShapeError, "transpose: axes"),
    ("transpose count", lambda: DP.transpose(t(2, 3, 4), (1, 0)), ShapeError, "transpose: axes"),
    ("transpose range", lambda: DP.transpose(t(2, 3), (0, 5)), ShapeError, "transpose: axes"),
    (
        "concatenate shapes",
        lambda: DP.concatenate([t(2, 3), t(2, 4)], axis=0),
        ShapeError,
        r"concatenate: shapes \[\(2, 3\), \(2, 4\)\] differ outside axis 0",
    ),
    ("concatenate ndim", lambda: DP.concatenate([t(2, 3), t(3)]), ShapeError, "concatenate"),
    ("concatenate none", lambda: DP.concatenate([]), ShapeError, "concatenate: expected at least"),
    ("concatenate axis", lambda: DP.concatenate([t(2), t(2)], 1), ShapeError, "axis 1 is out"),
    ("concatenate axis 2-D", lambda: DP.concatenate([t(2, 3)] * 2, -3), ShapeError, "axis -3"),
    ("concatenate 0-D", lambda: DP.concatenate([t(), t()]), ShapeError, "concatenate: axis"),
    ("stack axis", lambda: DP.stack([t(2, 3), t(2, 3)], axis=3), ShapeError, "stack: axis 3"),
    ("stack axis negative", lambda: DP.stack([t(2)] * 2, axis=-3), ShapeError, "stack: axis"),
    ("stack shapes", lambda: DP.stack([t(2, 3), t(3, 2)]), ShapeError, "stack: expected tensors"),
    ("stack none", lambda: DP.stack([]), ShapeError, "stack"),
    ("sum axis", lambda: DP.sum(t(2, 3), axis=2), ShapeError, "axis: expected an axis"),
    ("mean axis", lambda: t(2, 3).mean(axis=-3), ShapeError, "axis"),
    ("max repeated axis", lambda: DP.max(t(2, 3), axis=(1, -1)), ShapeError, "axis: repeated"),
    ("sum 0-D axis", lambda: DP.sum(t(), axis=0), ShapeError, "axis"),
    ("max empty", lambda: DP.max(t(0, 3)), ShapeError, r"max: expected a non-empty"),
    ("min empty", lambda: DP.min(t(0)), ShapeError, r"min: expected a non-empty"),
    (
        "ce label too big",
        lambda: DP.cross_entropy(LOGITS, np.array([0, 4, 1])),
        DataError,
        r"target: expected class labels in 0\.\.3, got values in 0\.\.4",
    ),
    (
        "ce negative label",
        lambda: DP.cross_entropy(LOGITS, [0, -1, 1]),
        DataError,
        "target: expected class labels",
    ),
    (
        "ce label count",
        lambda: DP.cross_entropy(LOGITS, np.array([0, 1])),
        ShapeError,
        "target: expected 3 labels",
    ),
    (
        "ce target shape",
        lambda: DP.cross_entropy(LOGITS, np.ones((3, 5)) / 5),
        ShapeError,
        r"target: expected integer labels of shape \(3,\) or probabilities of shape \(3, 4\)",
    ),
    (
        "ce logits 1-D",
        lambda: DP.cross_entropy(t(4), np.array([1])),
        ShapeError,
        r"logits: expected shape \(N, C\)",
    ),
    (
        "nll label too big",
        lambda: DP.nll_loss(LOGITS, np.array([0, 1, 4])),
        DataError,
        r"target: expected class labels in 0\.\.3",
    ),
    ("nll shapes", lambda: DP.nll_loss(t(3, 4), np.array([0, 1])), ShapeError, "nll_loss"),
    ("mse shapes", lambda: DP.mse_loss(t(3), np.zeros(4)), ShapeError, "mse_loss: target shape"),
    ("huber shapes", lambda: DP.huber_loss(t(3), np.zeros((3, 1))), ShapeError, "huber_loss"),
    ("bce shapes", lambda: DP.bce_with_logits(t(3), np.zeros(2)), ShapeError, "bce_with_logits"),
    ("huber delta", lambda: DP.huber_loss(t(3), np.zeros(3), delta=0.0), ConfigError, "delta"),
    ("huber delta<0", lambda: DP.huber_loss(t(3), np.zeros(3), delta=-1), ConfigError, "delta"),
    ("dropout p=1", lambda: DP.dropout(t(3), 1.0), ConfigError, r"p: expected .*\[0, 1\)"),
    ("dropout p<0", lambda: DP.dropout(t(3), -0.1), ConfigError, "p: expected"),
    ("dropout p>1", lambda: DP.dropout(t(3), p=1.5, training=False), ConfigError, "p: expected"),
    ("gelu approx", lambda: DP.gelu(t(3), approximate="fast"), ConfigError, "approximate"),
    ("gelu approx type", lambda: DP.gelu(t(3), approximate=None), ConfigError, "approximate"),
    ("sum axis float", lambda: DP.sum(t(2, 3), axis=1.5), ConfigError, "axis: expected an int"),
    ("max axis str", lambda: DP.max(t(2, 3), axis=("0",)), ConfigError, "axis: expected an int"),
    ("stack axis bool", lambda: DP.stack([t(2)] * 2, axis=True), ConfigError, "axis: expected"),
    ("dropout p str", lambda: DP.dropout(t(3), "0.5"), ConfigError, r"p: expected .*\[0, 1\)"),
    ("dropout p nan", lambda: DP.dropout(t(3), float("nan")), ConfigError, "p: expected"),
    ("huber delta str", lambda: DP.huber_loss(t(3), np.zeros(3), delta="1"), ConfigError, "delta"),
]
for _loss, _args in [
    ("cross_entropy", (LOGITS, np.array([0, 1, 2]))),
    ("nll_loss", (LOGITS, np.array([0, 1, 2]))),
    ("mse_loss", (t(3), np.zeros(3))),
    ("huber_loss", (t(3), np.zeros(3))),
    ("bce_with_logits", (t(3), np.zeros(3))),
]:
    BAD.append(
        (
            f"{_loss} reduction",
            lambda f=getattr(DP, _loss), a=_args: f(*a, reduction="avg"),
            ConfigError,
            r"reduction: unknown name 'avg'; expected one of \('mean', 'sum', 'none'\)",
        )
    )


@pytest.mark.parametrize("what,call,error,pattern", BAD, ids=[b[0] for b in BAD])
def test_bad_input_raises_named_error(what, call, error, pattern):
    with pytest.raises(error, match=pattern) as info:
        call()
    assert isinstance(info.value, DeltapropError)
    assert isinstance(info.value, ValueError)  # still catchable the NumPy way


def test_valid_edge_cases_do_not_raise():
    assert DP.cross_entropy(LOGITS, np.array([0, 3, 3])).shape == ()
    assert DP.concatenate([t(2, 3), t(2, 1)], axis=-1).shape == (2, 4)
    assert DP.stack([t(2), t(2)], axis=-1).shape == (2, 2)
    assert DP.stack([t(2), t(2)], axis=1).shape == (2, 2)
    assert DP.stack([t(), t()], axis=-1).shape == (2,)
    assert DP.concatenate([t(2), t(3)], axis=-1).shape == (5,)
    assert DP.transpose(t(2, 3, 4), (-1, 0, 1)).shape == (4, 2, 3)
    assert DP.reshape(t(2, 3), -1).shape == (6,)
    assert DP.dropout(t(3), 0.0).shape == (3,)
    assert DP.dropout(t(3), np.float32(0.25)).shape == (3,)  # any real number in [0, 1)
    assert DP.sum(t(2, 3), axis=np.int64(1)).shape == (2,)  # NumPy integers are axes too
    assert DP.mean(t(2, 3), axis=[0, -1]).shape == ()
    assert DP.max(t(2, 3), axis=np.array([1])).shape == (2,)
    assert DP.concatenate([t(2), t(2)], axis=np.int32(0)).shape == (4,)
    # Names at the edge go through names.lookup: case and "-"/"_" do not matter.
    assert DP.mse_loss(t(3), np.zeros(3), reduction="Sum").item() == 3.0
    assert DP.gelu(t(3), approximate="TANH").shape == (3,)
