"""The distillation loss (by hand and its bad inputs; gradient checks and torch parity are in
tests/ops/test_op_table.py) and the Distiller: a fixed teacher, cached or per-batch logits."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, ops
from deltaprop.distill import Distiller
from deltaprop.errors import ConfigError, DataError, ShapeError


def test_loss_worked_by_hand():
    # One row, two classes. Student logits (0, 0): q = (1/2, 1/2) at any T. Teacher logits
    # (0, 2 ln 3) at T = 2: p = softmax(0, ln 3) = (1/4, 3/4).
    # KL(p || q) = 1/4 ln(1/2) + 3/4 ln(3/2); soft = T^2 KL = 4 KL. Label 1: hard = ln 2.
    s, t = np.zeros((1, 2)), np.array([[0.0, 2 * np.log(3)]])
    kl = 0.25 * np.log(0.5) + 0.75 * np.log(1.5)
    loss = ops.distillation_loss(dp.tensor(s, dtype=np.float64), t, [1], temperature=2, alpha=0.25)
    np.testing.assert_allclose(loss.item(), 0.25 * 4 * kl + 0.75 * np.log(2), rtol=1e-12)
    # gradient: alpha T (q - p) + (1 - alpha)(softmax(s) - onehot)
    x = dp.tensor(s, requires_grad=True, dtype=np.float64)
    ops.distillation_loss(x, t, [1], temperature=2, alpha=0.25).backward()
    expected = 0.25 * 2 * (np.array([0.5, 0.5]) - [0.25, 0.75]) + 0.75 * np.array([0.5, -0.5])
    np.testing.assert_allclose(x.grad.numpy()[0], expected, rtol=1e-12)


def test_loss_bad_input():
    s = dp.tensor(np.zeros((2, 3), np.float32))
    with pytest.raises(ConfigError, match="temperature"):
        ops.distillation_loss(s, np.zeros((2, 3)), [0, 1], temperature=0)
    with pytest.raises(ConfigError, match="alpha"):
        ops.distillation_loss(s, np.zeros((2, 3)), [0, 1], alpha=1.5)
    with pytest.raises(ConfigError, match="target: the labels are needed"):
        ops.distillation_loss(s, np.zeros((2, 3)))
    with pytest.raises(ShapeError, match="teacher"):
        ops.distillation_loss(s, np.zeros((2, 4)), [0, 1])
    with pytest.raises(ShapeError, match="target"):
        ops.distillation_loss(s, np.zeros((2, 3)), [0, 1, 2])
    with pytest.raises(DataError, match="0..2"):
        ops.distillation_loss(s, np.zeros((2, 3)), [0, 3])
    with pytest.raises(ShapeError, match="student"):
        ops.distillation_loss(dp.tensor(np.zeros(3)), np.zeros(3), alpha=1.0)


def _data(n=60):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 5)).astype(np.float32)
    return X, (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1)


class Counting(nn.Module):
    """A teacher that counts the rows it is asked about."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.rows = 0
        self.training_calls = 0

    def forward(self, x):
        self.rows += x.shape[0]
        self.training_calls += self.training
        return self.net(x)


def _teacher():
    dp.seed(1)
    net = nn.mlp(5, [16], 3)
    X, y = _data()
    dp.Trainer(net, "cross_entropy", "adam", lr=0.01).fit(X, y, epochs=10, verbose=False)
    return Counting(net)


def test_teacher_logits_cached_once_or_per_batch_with_augmentation():
    teacher = _teacher()
    before = {k: v.copy() for k, v in teacher.state_dict().items()}
    X, y = _data()
    dp.seed(0)
    d = Distiller(nn.mlp(5, [4], 3), teacher, temperature=2.0, alpha=0.7, lr=0.01)
    rows = teacher.rows
    h = d.fit(X, y, epochs=4, batch_size=8, verbose=False, validation_split=0.2)
    assert teacher.rows - rows == 1 + 48  # the fit check's probe row, then one cached pass
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert {"val_loss", "val_accuracy", "accuracy"} <= set(h.history)
    rows = teacher.rows
    d.fit(X, y, epochs=2, batch_size=8, verbose=False, augment="noise")
    assert teacher.rows - rows == 1 + 2 * 60  # every augmented batch, every epoch
    assert teacher.training_calls == 0  # always in eval mode
    for k, v in teacher.state_dict().items():
        np.testing.assert_array_equal(v, before[k])  # the teacher never learns
    assert set(d.evaluate(X, y)) == {"loss", "accuracy"}


def test_distillation_is_reproducible_and_differs_from_plain_training():
    teacher = _teacher()
    X, y = _data()

    def fit(alpha):
        dp.seed(3)
        d = Distiller(nn.mlp(5, [4], 3), teacher, alpha=alpha, lr=0.01)
        d.fit(X, y, epochs=2, verbose=False)
        return d.model.state_dict()

    a, b, hard_only = fit(0.5), fit(0.5), fit(0.0)
    dp.seed(3)
    plain = nn.mlp(5, [4], 3)
    dp.Trainer(plain, "cross_entropy", "adam", lr=0.01).fit(X, y, epochs=2, verbose=False)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
        # alpha 0 is cross-entropy on the labels alone: the plain Trainer's run, step for step
        np.testing.assert_allclose(hard_only[k], plain.state_dict()[k], rtol=1e-5, atol=1e-6)
    assert any(not np.allclose(a[k], hard_only[k]) for k in a)


def test_distiller_bad_input():
    teacher = _teacher()
    X, y = _data()
    student = nn.mlp(5, [4], 3)
    with pytest.raises(ConfigError, match="teacher: expected a trained"):
        Distiller(student, "big.safetensors")
    with pytest.raises(ConfigError, match="teacher: expected another model"):
        Distiller(student, student)
    with pytest.raises(ConfigError, match="temperature"):
        Distiller(student, teacher, temperature=-1)
    with pytest.raises(ConfigError, match="alpha"):
        Distiller(student, teacher, alpha=2)
    with pytest.raises(ConfigError, match="loss"):
        Distiller(student, teacher, loss="mse")
    before = {k: v.copy() for k, v in student.state_dict().items()}
    with pytest.raises(ConfigError, match="teacher: does not fit the data: X: expected 7"):
        Distiller(student, nn.mlp(7, [4], 3)).fit(X, y, verbose=False)
    with pytest.raises(ConfigError, match="teacher: gives 4 outputs"):
        Distiller(student, nn.mlp(5, [4], 4)).fit(X, y, verbose=False)
    with pytest.raises(ConfigError, match="augment: mixup"):
        Distiller(student, teacher).fit(X, y, augment="mixup", verbose=False)
    with pytest.raises(ConfigError, match="by name"):
        Distiller(student, teacher).fit(X, y, 3)
    for k, v in student.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def _distilled(augment=None, **options):
    """The student's weights after a short distillation with the Trainer ``options``."""
    teacher = _teacher()
    X, y = _data()
    dp.seed(3)
    d = Distiller(nn.mlp(5, [4], 3), teacher, alpha=0.6, lr=0.01, **options)
    d.fit(X, y, epochs=2, batch_size=8, seed=1, verbose=False, augment=augment)
    return d, {k: dp.backend.to_numpy(v) for k, v in d.model.state_dict().items()}


def test_compile_is_refused_by_name():
    # the recording would replay a cross-entropy of the packed targets, not the distillation
    with pytest.raises(ConfigError, match=r"^compile: a Distiller trains on the distillation"):
        Distiller(nn.mlp(5, [4], 3), _teacher(), compile=True)


def test_a_world_of_one_rank_distills_as_one_process():
    pytest.importorskip("mpi4py")
    _, eager = _distilled()
    d, spread = _distilled(distributed=True)
    assert d._dist is not None  # the data-parallel step ran, on the packed targets
    for k in eager:
        np.testing.assert_array_equal(spread[k], eager[k], err_msg=k)


def test_augmentation_with_distributed_is_refused_before_training():
    pytest.importorskip("mpi4py")
    teacher, (X, y) = _teacher(), _data()
    student = nn.mlp(5, [4], 3)
    before = {k: v.copy() for k, v in student.state_dict().items()}
    d = Distiller(student, teacher, distributed=True)
    with pytest.raises(ConfigError, match=r"^augment: the teacher must see every augmented"):
        d.fit(X, y, augment="noise", verbose=False)
    for k, v in student.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_device_moves_the_teacher_and_gives_the_host_weights(monkeypatch):
    from deltaprop import strict_backend

    monkeypatch.setattr(strict_backend, "LIBRARY_ONLY", True)
    strict_backend.VIOLATIONS.clear()
    for augment in (None, "noise"):  # cached logits, and the teacher on every batch
        _, host = _distilled(augment)
        d, moved = _distilled(augment, device="strict")
        assert dp.backend.device_of(d.teacher.parameters()[0].data) == "strict"
        assert not strict_backend.VIOLATIONS, strict_backend.VIOLATIONS[0]
        for k in host:
            np.testing.assert_allclose(moved[k], host[k], rtol=1e-6, atol=1e-7, err_msg=k)
