"""SelfTraining: the pseudo-label choice (threshold, per-class quota, order), the rounds and
their schedule, reproducibility, and every bad input before the model is touched."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, semi
from deltaprop.errors import ConfigError, DataError, ShapeError


def blobs(n=120, seed=0):
    """Two well-separated classes in 2-D: (X, y) float32 / int."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.normal(size=(n, 2)) * 0.5 + np.where(y[:, None] == 1, 2.0, -2.0)
    return X.astype(np.float32), y


def trainer(seed=0, n_in=2):
    dp.seed(seed)
    return dp.Trainer(nn.mlp(n_in, (8,), 2), loss="cross_entropy", optimizer="adam", lr=0.05)


# --- the choice of pseudo-labels -------------------------------------------------------------


def test_selects_confident_rows_per_class_most_confident_first():
    probs = np.array([
        [0.95, 0.05],  # 0: class 0, confident
        [0.60, 0.40],  # 1: class 0, below the threshold
        [0.99, 0.01],  # 2: class 0, most confident
        [0.10, 0.90],  # 3: class 1
        [0.02, 0.98],  # 4: class 1, most confident
        [0.97, 0.03],  # 5: class 0
    ])  # fmt: skip
    rows, labels = semi.select_pseudo_labels(probs, np.array([2, 1]), threshold=0.9)
    assert rows.tolist() == [2, 4, 5] and labels.tolist() == [0, 1, 0]
    rows, _ = semi.select_pseudo_labels(probs, np.array([10, 10]), threshold=0.9)
    assert rows.tolist() == [0, 2, 3, 4, 5]  # row 1 never: 0.6 < 0.9
    rows, _ = semi.select_pseudo_labels(probs, np.array([10, 10]), threshold=0.0)
    assert rows.tolist() == [0, 1, 2, 3, 4, 5]
    rows, _ = semi.select_pseudo_labels(probs, np.array([0, 0]), threshold=0.0)
    assert rows.tolist() == []


def test_ties_go_to_the_earlier_row():
    probs = np.full((4, 2), 0.5)
    probs[:, 0] += 0.01
    probs[:, 1] -= 0.01
    rows, _ = semi.select_pseudo_labels(probs, np.array([2, 2]), threshold=0.5)
    assert rows.tolist() == [0, 1]


# --- the rounds ------------------------------------------------------------------------------


def test_rounds_schedule_and_history(capsys):
    X, y = blobs()
    t = trainer()
    history = semi.SelfTraining(threshold=0.5, rounds=2).fit(
        t, X[:6], y[:6], X[6:], epochs=2, seed=0, log_every=2
    )
    assert history.history["round"] == [0, 0, 1, 1, 2, 2]
    assert len(history.history["loss"]) == 6 and history.epoch == list(range(6))
    assert t.history is history
    out = capsys.readouterr().out
    # round r takes up to ceil(114 * r / 2) rows, shared 3/3 as the labeled rows are
    assert "self-training round 0/2: 6 labeled rows\n" in out
    assert "round 1/2: 6 labeled rows + 57 of 114 unlabeled rows pseudo-labeled" in out
    assert "round 2/2: 6 labeled rows + 114 of 114" in out
    assert t.evaluate(X, y)["accuracy"] > 0.95


def test_pseudo_labels_beat_the_labeled_rows_alone_on_digits():
    # 3 labeled rows per class of half of digits; the same network, steps and seed
    from deltaprop.data import Standardizer, load_dataset, train_test_split
    from deltaprop.data.scarce import labeled_per_class

    ds = load_dataset("digits")
    X = Standardizer().fit_transform(ds.X).astype(np.float32)
    Xtr, Xte, ytr, yte = train_test_split(X, ds.y, test_size=0.5, seed=0)
    lab, unl = labeled_per_class(ytr, 3, seed=0)

    def accuracy(method):
        dp.seed(0)
        t = dp.Trainer(nn.mlp(64, (32,), 10), loss="cross_entropy", optimizer="adam", lr=0.01)
        if method is None:  # as many epochs as the three rounds have
            t.fit(*semi.oversample(Xtr[lab], ytr[lab], len(unl)), epochs=6, seed=0,
                  verbose=False)  # fmt: skip
        else:
            method.fit(t, Xtr[lab], ytr[lab], Xtr[unl], epochs=2, seed=0, verbose=False)
        return t.evaluate(Xte, yte)["accuracy"]

    assert accuracy(semi.SelfTraining(rounds=2)) > accuracy(None) + 0.01


def test_the_same_seed_gives_the_same_weights_bit_for_bit():
    X, y = blobs()

    def weights():
        t = trainer(3)
        semi.SelfTraining(rounds=2).fit(t, X[:8], y[:8], X[8:], epochs=2, verbose=False)
        return [p.data.copy() for p in t.model.parameters()]

    dp.seed(5)
    a = weights()
    dp.seed(5)
    b = weights()
    assert all((p == q).all() for p, q in zip(a, b))


def test_validation_rows_come_from_the_labeled_rows():
    X, y = blobs()
    history = semi.SelfTraining(rounds=1).fit(
        trainer(), X[:20], y[:20], X[20:], epochs=1, seed=0, validation_split=0.2, verbose=False
    )
    assert len(history.history["val_accuracy"]) == 2
    with pytest.raises(ConfigError, match="not both"):
        semi.SelfTraining().fit(trainer(), X[:20], y[:20], X[20:], validation_split=0.2,
                                validation_data=(X[:4], y[:4]))  # fmt: skip


# --- bad input: an error naming the argument, and the model untouched -------------------------


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"threshold": 1.0}, "threshold: expected a number in \\[0, 1\\)"),
        ({"threshold": -0.1}, "threshold"),
        ({"rounds": 0}, "rounds: expected an integer >= 1"),
        ({"rounds": 1.5}, "rounds"),
    ],
)
def test_bad_options(options, match):
    with pytest.raises(ConfigError, match=match):
        semi.SelfTraining(**options)


def untouched(t, call, error, match):
    before = [p.data.copy() for p in t.model.parameters()]
    with pytest.raises(error, match=match):
        call()
    assert all((p.data == q).all() for p, q in zip(t.model.parameters(), before))


def test_unlabeled_rows_with_another_feature_count_name_the_argument():
    X, y = blobs()
    t = trainer()
    method = semi.SelfTraining()
    untouched(t, lambda: method.fit(t, X[:6], y[:6], np.zeros((5, 3))), DataError,
              "unlabeled: expected rows of 2 features as X has, got 3")  # fmt: skip
    untouched(t, lambda: method.fit(t, X[:6], y[:6], None), DataError, "unlabeled: expected")
    untouched(t, lambda: method.fit(t, X[:6], y[:6], np.zeros(5)), ShapeError, "unlabeled")
    untouched(t, lambda: method.fit(t, X[:6], y[:6], np.full((5, 2), np.nan)), DataError,
              "unlabeled")  # fmt: skip


def test_fit_refuses_checkpoints_unknown_arguments_and_non_classifiers():
    X, y = blobs()
    t = trainer()
    method = semi.SelfTraining()
    untouched(t, lambda: method.fit(t, X[:6], y[:6], X[6:], checkpoint="c.ckpt"), ConfigError,
              "checkpoint: self-training training cannot be checkpointed")  # fmt: skip
    untouched(t, lambda: method.fit(t, X[:6], y[:6], X[6:], epoch=3), ConfigError,
              "epoch: unknown argument of fit")  # fmt: skip
    untouched(t, lambda: method.fit(t, X[:6], y[:6], X[6:], seed=-1), ConfigError, "seed")
    untouched(t, lambda: method.fit(t, X[:6], y[:6], X[6:], epochs=0), ConfigError, "epochs")
    reg = dp.Trainer(nn.mlp(2, (4,), 1), loss="mse", optimizer="sgd")
    untouched(reg, lambda: method.fit(reg, X[:6], y[:6], X[6:]), ConfigError,
              "trainer: self-training needs a classifier trained with cross-entropy")  # fmt: skip
    with pytest.raises(ConfigError, match="trainer: expected a deltaprop Trainer"):
        method.fit("trainer", X[:6], y[:6], X[6:])


def test_repr_shows_the_options():
    assert repr(semi.SelfTraining(0.8, 3)) == "SelfTraining(threshold=0.8, rounds=3)"


def test_class_quotas_sum_to_the_total_in_proportion():
    from deltaprop.semi.self_training import class_quotas

    assert class_quotas(np.array([0.5, 0.5]), 57).tolist() == [29, 28]
    assert class_quotas(np.array([0.2, 0.3, 0.5]), 10).tolist() == [2, 3, 5]
    assert class_quotas(np.full(3, 1 / 3), 4).tolist() == [2, 1, 1]
    assert class_quotas(np.array([0.25, 0.75]), 0).tolist() == [0, 0]


@pytest.mark.parametrize("option", ["compile", "distributed"])
def test_compiled_and_data_parallel_self_training_give_the_eager_weights(option):
    # self-training is a series of the Trainer's own fits: both steps apply as they are
    if option == "distributed":
        pytest.importorskip("mpi4py")
    X, y = blobs()

    def weights(**options):
        dp.seed(3)
        t = dp.Trainer(nn.mlp(2, (8,), 2), "cross_entropy", "sgd", lr=0.1, **options)
        semi.SelfTraining(rounds=1).fit(t, X[:8], y[:8], X[8:], epochs=2, seed=0, verbose=False)
        return t, [p.data.copy() for p in t.model.parameters()]

    _, eager = weights()
    t, other = weights(**{option: True})
    assert t._compiled.replays > 0 if option == "compile" else t._dist is not None
    if option == "distributed":
        assert all((p == q).all() for p, q in zip(eager, other))
    else:  # plain SGD's update runs inside linear's backward: lr x^T g rounds differently
        for p, q in zip(eager, other, strict=True):
            assert np.linalg.norm(p - q) <= 1e-6 * max(np.linalg.norm(p), 1e-30)
