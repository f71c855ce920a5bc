"""MeanTeacher: the consistency loss (value and float64 gradient check), the ramp-up, the
teacher's moving average, the step's restoration, reproducibility, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, semi
from deltaprop.errors import ConfigError, DataError, TrainingError


def moons():
    ds = dp.data.load_dataset("moons", seed=0)
    X, y = ds.X.astype(np.float32), ds.y
    labeled = np.concatenate([np.flatnonzero(y == c)[:4] for c in (0, 1)])
    rest = np.setdiff1d(np.arange(len(y)), labeled)
    return X[labeled], y[labeled], X[rest], y[rest]


def trainer(seed=1, hidden=(32, 32), n_in=2, n_out=2):
    dp.seed(seed)
    model = nn.mlp(n_in, hidden, n_out)
    return dp.Trainer(model, loss="cross_entropy", optimizer="adam", lr=0.01)


# --- the loss and the ramp -------------------------------------------------------------------


def test_consistency_loss_by_hand():
    logits = dp.tensor([[0.0, 0.0], [math.log(3.0), 0.0]], dtype="float64")
    target = np.array([[1.0, 0.0], [0.75, 0.25]])
    # row 0: softmax (0.5, 0.5) -> 0.25 + 0.25; row 1: softmax (0.75, 0.25) -> 0
    assert semi.consistency_loss(logits, target).item() == pytest.approx(0.25)


def test_consistency_loss_gradient_float64():
    rng = np.random.default_rng(0)
    logits = dp.tensor(rng.normal(size=(5, 4)), dtype="float64", requires_grad=True)
    p = rng.random((5, 4))
    p /= p.sum(axis=1, keepdims=True)
    dp.gradcheck(lambda z: semi.consistency_loss(z, p), [logits])
    dp.gradcheck(lambda z: semi.consistency_loss(z, dp.tensor(p, dtype="float64")), [logits])


def test_ramp_up_is_the_sigmoid_shape():
    assert semi.ramp_up(0, 5) == pytest.approx(math.exp(-5))
    assert semi.ramp_up(2.5, 5) == pytest.approx(math.exp(-1.25))
    assert semi.ramp_up(5, 5) == 1.0 and semi.ramp_up(50, 5) == 1.0
    assert semi.ramp_up(0, 0) == 1.0


# --- training --------------------------------------------------------------------------------


@pytest.mark.slow
def test_mean_teacher_learns_the_moons_from_eight_labels():
    X, y, U, yu = moons()
    alone = trainer()
    alone.fit(*semi.oversample(X, y, len(U)), epochs=4, seed=0, verbose=False)
    t = trainer()
    semi.MeanTeacher().fit(t, X, y, U, epochs=4, seed=0, verbose=False)
    assert t.evaluate(U, yu)["accuracy"] > alone.evaluate(U, yu)["accuracy"] + 0.05


def test_the_teacher_is_the_moving_average_and_the_model_ends_with_it():
    X, y, U, _ = moons()
    t = trainer(hidden=(4,))
    start = [p.data.copy() for p in t.model.parameters()]
    seen = []
    opt_step = t.optimizer.step

    def step():  # record the model's weights after each update
        opt_step()
        seen.append([p.data.astype(np.float64) for p in t.model.parameters()])

    t.optimizer.step = step
    semi.MeanTeacher(ema_decay=0.5, augment=None).fit(
        t, X, y, U, epochs=1, batch_size=200, seed=0, verbose=False
    )
    teacher = [s.astype(np.float64) for s in start]
    for i, weights in enumerate(seen):
        a = min(1 - 1 / (i + 2), 0.5)
        teacher = [a * w_t + (1 - a) * w for w_t, w in zip(teacher, weights)]
    for p, expected in zip(t.model.parameters(), teacher):
        np.testing.assert_allclose(p.data, expected, rtol=1e-5, atol=1e-6)


def test_weight_zero_trains_as_the_plain_step_and_the_step_is_removed():
    X, y, U, _ = moons()
    plain = trainer()
    plain.fit(*semi.oversample(X, y, len(U)), epochs=2, seed=0, verbose=False)
    t = trainer()
    semi.MeanTeacher(weight=0.0, use_teacher=False).fit(t, X, y, U, epochs=2, seed=0,
                                                        verbose=False)  # fmt: skip
    for p, q in zip(t.model.parameters(), plain.model.parameters()):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-5, atol=1e-6)
    assert "forward_loss" not in vars(t) and not t.callbacks


def test_the_step_is_removed_when_training_fails():
    X, y, U, _ = moons()
    t = trainer()
    t.optimizer.param_groups[0]["lr"] = 1e30
    with pytest.raises(TrainingError), np.errstate(all="ignore"):
        semi.MeanTeacher(weight=1.0).fit(t, X, y, U, epochs=3, seed=0, verbose=False)
    assert "forward_loss" not in vars(t) and not t.callbacks


def test_image_augmentation_and_batch_norm_and_reproducibility():
    ds = dp.data.load_dataset("digits")
    X = (ds.X[:300] / 16).astype(np.float32)
    y = ds.y[:300]

    def weights():
        dp.seed(4)
        model = nn.mlp(64, (16,), 10, norm="batchnorm")
        t = dp.Trainer(model, loss="cross_entropy", optimizer="adam", lr=0.01)
        method = semi.MeanTeacher(augment="shift,noise", image_shape=(1, 8, 8), ramp_up=0)
        method.fit(t, X[:30], y[:30], X[30:], epochs=2, verbose=False)
        return [v.copy() for v in t.model.state_dict().values()]

    a, b = weights(), weights()
    assert all((p == q).all() for p, q in zip(a, b))


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"weight": -1.0}, "weight: expected a finite number >= 0"),
        ({"ramp_up": -1}, "ramp_up: expected an integer >= 0"),
        ({"ema_decay": 1.0}, "ema_decay: expected a number in \\[0, 1\\)"),
        ({"augment": "mixup"}, "augment: mixup needs labels"),
        ({"augment": "neighbours"}, "augment: neighbours needs labels"),
        ({"augment": "nosuch"}, "augment: unknown name 'nosuch'"),
        ({"augment": 3}, "augment: expected"),
    ],
)
def test_bad_options(options, match):
    with pytest.raises(ConfigError, match=match):
        semi.MeanTeacher(**options)


def test_image_steps_on_rows_without_images_and_unlabeled_of_another_width():
    X, y, U, _ = moons()
    t = trainer()
    before = [p.data.copy() for p in t.model.parameters()]
    with pytest.raises(ConfigError, match="augment: shift needs images"):
        semi.MeanTeacher(augment="shift").fit(t, X, y, U, verbose=False)
    with pytest.raises(DataError, match="unlabeled: expected rows of 2 features as X has, got 5"):
        semi.MeanTeacher().fit(t, X, y, np.zeros((4, 5)), verbose=False)
    assert all((p.data == q).all() for p, q in zip(t.model.parameters(), before))
    assert "forward_loss" not in vars(t) and not t.callbacks


def test_compiled_and_data_parallel_trainers_are_refused_before_training():
    # Neither step calls forward_loss: the consistency term would be left out (and, data-
    # parallel, the teacher would never move: the run ended with its untrained weights).
    pytest.importorskip("mpi4py")
    X, y, U, _ = moons()
    for option, match in (("compile", "^compile: mean-teacher adds its consistency loss"),
                          ("distributed", "^distributed: mean-teacher adds")):  # fmt: skip
        dp.seed(1)
        t = dp.Trainer(nn.mlp(2, (4,), 2), "cross_entropy", "adam", lr=0.01, **{option: True})
        before = [p.data.copy() for p in t.model.parameters()]
        with pytest.raises(ConfigError, match=match):
            semi.MeanTeacher().fit(t, X, y, U, epochs=1, verbose=False)
        assert all((p.data == q).all() for p, q in zip(t.model.parameters(), before))
        assert "forward_loss" not in vars(t) and not t.callbacks


def test_a_distiller_with_augmentation_is_refused():
    # its forward_loss shows the teacher each augmented batch; mean teacher's replaces it
    from deltaprop.distill import Distiller

    X, y, U, _ = moons()
    dp.seed(1)
    d = Distiller(nn.mlp(2, (4,), 2), nn.mlp(2, (4,), 2), lr=0.01)
    with pytest.raises(ConfigError, match="^augment: Distiller computes its loss on each"):
        semi.MeanTeacher().fit(d, X, y, U, epochs=1, verbose=False, augment="noise")
    semi.MeanTeacher().fit(d, X, y, U, epochs=1, verbose=False)  # the cached logits: fine
