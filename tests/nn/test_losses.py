"""Loss modules, penalties and get_loss; parity with PyTorch's losses."""

import math

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn
from deltaprop.errors import ConfigError, DataError, ShapeError

RNG = np.random.default_rng(0)


def test_cross_entropy_worked_by_hand():
    # logits [0, ln 3] -> softmax [1/4, 3/4]; label 1 -> -ln(3/4); label 0 -> -ln(1/4)
    logits = dp.tensor([[0.0, math.log(3.0)], [0.0, math.log(3.0)]], requires_grad=True)
    loss = nn.CrossEntropyLoss()(logits, np.array([1, 0]))
    assert loss.shape == ()
    assert loss.item() == pytest.approx((-math.log(0.75) - math.log(0.25)) / 2, rel=1e-6)
    loss.backward()
    # d/dz = (softmax - onehot) / N
    assert np.allclose(logits.grad.numpy(), [[0.125, -0.125], [-0.375, 0.375]], atol=1e-6)


def test_targets_may_be_arrays_or_tensors_and_probabilities():
    logits = RNG.normal(size=(6, 4)).astype(np.float32)
    labels = RNG.integers(0, 4, size=6)
    loss_fn = nn.CrossEntropyLoss()
    a = loss_fn(dp.tensor(logits), labels).item()
    b = loss_fn(dp.tensor(logits), dp.tensor(labels)).item()
    c = loss_fn(dp.tensor(logits), np.eye(4)[labels]).item()  # one-hot probabilities
    assert a == pytest.approx(b) and a == pytest.approx(c, rel=1e-6)


def test_reductions():
    pred = dp.tensor(RNG.normal(size=(5, 3)))
    target = RNG.normal(size=(5, 3))
    per = nn.MSELoss(reduction="none")(pred, target)
    assert per.shape == (5, 3)
    assert nn.MSELoss(reduction="sum")(pred, target).item() == pytest.approx(per.numpy().sum())
    assert nn.MSELoss()(pred, target).item() == pytest.approx(per.numpy().mean())
    with pytest.raises(ConfigError, match="reduction.*'mean', 'sum', 'none'"):
        nn.MSELoss(reduction="avg")


def test_huber_by_hand_and_checks():
    # d = [0.5, -3]: 0.5 * 0.25 = 0.125 inside delta=1; 1 * (3 - 0.5) = 2.5 beyond
    loss = nn.HuberLoss(reduction="none")(dp.tensor([0.5, -3.0]), np.array([0.0, 0.0]))
    assert np.allclose(loss.numpy(), [0.125, 2.5])
    assert nn.HuberLoss(delta=2.0).get_config() == {"delta": 2.0, "reduction": "mean"}
    for bad in [0, -1.0, "1"]:
        with pytest.raises(ConfigError, match="delta"):
            nn.HuberLoss(delta=bad)


def test_shapes_must_match_no_silent_broadcast():
    with pytest.raises(ShapeError):
        nn.MSELoss()(dp.tensor(np.zeros((4, 1))), np.zeros(4))
    with pytest.raises(ShapeError):
        nn.BCEWithLogitsLoss()(dp.tensor(np.zeros((4, 1))), np.zeros(4))


def test_nll_checks_labels_and_equals_cross_entropy_after_log_softmax():
    logits = dp.tensor(RNG.normal(size=(5, 3)))
    labels = np.array([0, 2, 1, 1, 0])
    nll = nn.NLLLoss()(nn.LogSoftmax()(logits), labels).item()
    assert nll == pytest.approx(nn.CrossEntropyLoss()(logits, labels).item(), rel=1e-6)
    logp = nn.LogSoftmax()(logits)
    for bad in [np.array([0, 1, 2, 3, 0]), np.array([0, -1, 0, 0, 0])]:
        with pytest.raises(DataError, match=r"0\.\.2"):
            nn.NLLLoss()(logp, bad)
    with pytest.raises(DataError, match="integer"):
        nn.NLLLoss()(logp, labels.astype(np.float32))


def test_tasks_and_configs():
    assert nn.CrossEntropyLoss.task == "classification"
    assert nn.NLLLoss.task == "classification"
    assert nn.BCEWithLogitsLoss.task == "classification"
    assert nn.MSELoss.task == "regression"
    assert nn.HuberLoss().task == "regression"
    assert nn.CrossEntropyLoss(reduction="sum").get_config() == {"reduction": "sum"}


def test_get_loss():
    assert nn.LOSSES == ("cross_entropy", "mse", "bce_with_logits", "huber", "nll")
    classes = [nn.CrossEntropyLoss, nn.MSELoss, nn.BCEWithLogitsLoss, nn.HuberLoss, nn.NLLLoss]
    for name, cls in zip(nn.LOSSES, classes):
        assert type(nn.get_loss(name)) is cls
    assert nn.get_loss("Huber", delta=0.5).delta == 0.5
    assert nn.get_loss("cross-entropy", reduction="sum").reduction == "sum"
    loss = nn.MSELoss()
    assert nn.get_loss(loss) is loss
    with pytest.raises(ConfigError, match=r"'hinge'.*cross_entropy.*nll"):
        nn.get_loss("hinge")


def test_penalties_values_and_gradients():
    w = nn.Parameter(np.array([[1.0, -2.0], [0.5, 0.0]]))
    b = nn.Parameter(np.array([-3.0]))
    l1 = nn.l1_penalty([w, b])
    assert l1.item() == pytest.approx(6.5)
    l2 = nn.l2_penalty([w, b])
    assert l2.item() == pytest.approx(1 + 4 + 0.25 + 9)
    (l1 + l2).backward()
    assert np.allclose(w.grad.numpy(), np.sign(w.numpy()) + 2 * w.numpy())
    assert np.allclose(b.grad.numpy(), [-1.0 - 6.0])
    model = nn.Sequential(nn.Linear(2, 2, init="ones"), nn.Linear(2, 1, init="ones"))
    assert nn.l2_penalty(model).item() == pytest.approx(6.0)  # biases are 0
    assert nn.l1_penalty([]).item() == 0.0
    with pytest.raises(ConfigError, match=r"params\[0\]"):
        nn.l2_penalty([np.zeros(2)])


# --- parity with PyTorch -------------------------------------------------------------------------


def _torch():
    return pytest.importorskip("torch")


def _compare(ours_fn, torch_fn, pred, target, reduction, torch_target=None):
    torch = _torch()
    x = dp.tensor(pred, requires_grad=True, dtype=np.float64)
    xt = torch.tensor(pred, requires_grad=True)
    out = ours_fn(x, target)
    ref = torch_fn(xt, torch.as_tensor(target) if torch_target is None else torch_target)
    assert np.allclose(out.numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = RNG.normal(size=out.shape) if reduction == "none" else np.array(1.7)
    out.backward(g)
    ref.backward(torch.from_numpy(np.asarray(g, dtype=np.float64)))
    assert np.allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)


REDUCTIONS = ["mean", "sum", "none"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_parity_labels(reduction):
    torch = _torch()
    logits = RNG.normal(size=(8, 5)) * 4
    labels = RNG.integers(0, 5, size=8)
    _compare(
        nn.CrossEntropyLoss(reduction=reduction),
        torch.nn.CrossEntropyLoss(reduction=reduction),
        logits, labels, reduction,
    )  # fmt: skip


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_parity_probabilities(reduction):
    torch = _torch()
    logits = RNG.normal(size=(6, 4))
    probs = RNG.dirichlet(np.ones(4), size=6)
    _compare(
        nn.CrossEntropyLoss(reduction=reduction),
        torch.nn.CrossEntropyLoss(reduction=reduction),
        logits, probs, reduction,
    )  # fmt: skip


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_parity(reduction):
    torch = _torch()
    logp = np.log(RNG.dirichlet(np.ones(4), size=7))
    labels = RNG.integers(0, 4, size=7)
    _compare(
        nn.NLLLoss(reduction=reduction), torch.nn.NLLLoss(reduction=reduction),
        logp, labels, reduction,
    )  # fmt: skip


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_parity(reduction):
    torch = _torch()
    pred, target = RNG.normal(size=(6, 2)), RNG.normal(size=(6, 2))
    _compare(
        nn.MSELoss(reduction=reduction), torch.nn.MSELoss(reduction=reduction),
        pred, target, reduction,
    )  # fmt: skip


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_parity(reduction):
    torch = _torch()
    logits = RNG.normal(size=(9, 1)) * 10  # large logits: the stable form matters
    target = RNG.integers(0, 2, size=(9, 1)).astype(np.float64)
    _compare(
        nn.BCEWithLogitsLoss(reduction=reduction),
        torch.nn.BCEWithLogitsLoss(reduction=reduction),
        logits, target, reduction,
    )  # fmt: skip


@pytest.mark.parametrize("delta", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_huber_parity(reduction, delta):
    torch = _torch()
    pred, target = RNG.normal(size=(10,)) * 3, RNG.normal(size=(10,))
    _compare(
        nn.HuberLoss(delta=delta, reduction=reduction),
        torch.nn.HuberLoss(delta=delta, reduction=reduction),
        pred, target, reduction,
    )  # fmt: skip
