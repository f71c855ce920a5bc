"""fit(..., augment=...): augmentation of the training batches only (a spy on the loop sees
every training row once per epoch and never a validation row; evaluate and predict never call
it), with a generator of its own (seeded runs repeat bit for bit, and the rows come in the
order they would without augmentation), mixup's probabilities through the loss, and the
augmentation's generator in training checkpoints (a resumed run goes on bit for bit; an old
checkpoint without it still resumes a run without augmentation).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import backend, io, nn
from deltaprop.data.augment import Augment, Augmentation, GaussianNoise, Mixup
from deltaprop.errors import ConfigError, ModelFileError
from deltaprop.train import state as ckpt

SHAPE = (1, 4, 4)


def data(n=96, seed=0):
    """Flat 4x4 "images" (n, 16), float32, with labels 0..2 that depend on them."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 16)).astype(np.float32)
    y = (X[:, :5].sum(1) > 0).astype(np.int64) + (X[:, 5] > 1)
    return X, y


def trainer(loss="cross_entropy", n_out=3, dropout=0.0, seed=0):
    dp.seed(seed)
    layers = [nn.Linear(16, 12), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    model = nn.Sequential(*layers, nn.Linear(12, n_out))
    return dp.Trainer(model, loss=loss, optimizer="adam", lr=0.01)


def weights(t):
    return {k: v.copy() for k, v in t.model.state_dict().items()}


def same_weights(a, b):
    return all(np.array_equal(a[k], b[k]) for k in a)


class Spy(Augmentation):
    """Returns the batch unchanged; records what it was given."""

    name = "spy"

    def __init__(self):
        self.batches = []
        self.fitted_on = None

    def fit(self, X, y, classes=None, n_classes=None):
        self.fitted_on = X.copy()

    def apply(self, X, y, rng, rows=None):
        self.batches.append((X.copy(), np.asarray(rows).copy()))
        return X, y


# --- where augmentation runs -----------------------------------------------------------------


def test_only_training_batches_are_augmented():
    X, y = data()
    Xv, yv = data(40, seed=1)
    Xv[:, 0] = 99.0  # a mark no training row has
    spy = Spy()
    t = trainer()
    t.fit(X, y, epochs=3, batch_size=20, seed=1, validation_data=(Xv, yv), augment=[spy],
          verbose=False)  # fmt: skip
    assert np.array_equal(spy.fitted_on, X)
    assert len(spy.batches) == 3 * 5  # ceil(96 / 20) batches in each of 3 epochs
    seen = np.concatenate([b for b, _ in spy.batches])
    assert len(seen) == 3 * len(X) and not (seen[:, 0] == 99.0).any()
    for epoch in range(3):  # every training row once per epoch, at its position
        rows = np.concatenate([r for _, r in spy.batches[epoch * 5 : epoch * 5 + 5]])
        assert sorted(rows) == list(range(len(X)))
        got = np.concatenate([b for b, _ in spy.batches[epoch * 5 : epoch * 5 + 5]])
        assert np.array_equal(got, X[rows])
    calls = len(spy.batches)
    t.evaluate(Xv, yv)
    t.predict(Xv)
    t.predict_classes(X)
    assert len(spy.batches) == calls


def test_the_augmenter_is_fitted_on_the_training_part_of_a_validation_split():
    X, y = data()
    spy = Spy()
    trainer().fit(X, y, epochs=1, validation_split=0.25, augment=spy, verbose=False)
    assert len(spy.fitted_on) == 72
    rows = np.concatenate([r for _, r in spy.batches])
    assert sorted(rows) == list(range(72))


def test_the_rows_come_in_the_order_they_would_without_augmentation():
    # an augmentation that changes nothing trains exactly the unaugmented run
    X, y = data()
    plain, spied = trainer(), trainer()
    plain.fit(X, y, epochs=3, batch_size=16, seed=4, verbose=False)
    spied.fit(X, y, epochs=3, batch_size=16, seed=4, augment=Spy(), verbose=False)
    assert same_weights(weights(plain), weights(spied))
    unshuffled = Spy()
    trainer().fit(X, y, epochs=1, batch_size=16, shuffle=False, augment=unshuffled, verbose=False)
    assert np.array_equal(np.concatenate([r for _, r in unshuffled.batches]), np.arange(96))


@pytest.mark.parametrize("seed", [3, None])
def test_augmented_runs_repeat_bit_for_bit(seed):
    X, y = data()
    runs = []
    for _ in range(2):
        t = trainer(dropout=0.2)
        dp.seed(11)
        aug = Augment("shift,rotate,cutout,noise,neighbours,mixup", image_shape=SHAPE)
        t.fit(X, y, epochs=2, seed=seed, augment=aug, verbose=False)
        runs.append(weights(t))
    assert same_weights(*runs)
    t = trainer(dropout=0.2)
    dp.seed(11)
    t.fit(X, y, epochs=2, seed=seed, verbose=False)
    assert not same_weights(runs[0], weights(t))


def test_the_augmenter_has_its_own_generator():
    # the augmentation's draws leave the stream that shuffles rows (and dropout's) alone
    X, y = data()
    with_noise, spied = Spy(), Spy()
    trainer().fit(X, y, epochs=2, seed=5, augment=[GaussianNoise(0.5), with_noise], verbose=False)
    trainer().fit(X, y, epochs=2, seed=5, augment=[spied], verbose=False)
    for (_, a), (_, b) in zip(with_noise.batches, spied.batches):
        assert np.array_equal(a, b)


# --- mixup's probabilities -----------------------------------------------------------------------


def test_mixup_trains_a_cross_entropy_on_probabilities():
    X, y = data()
    t = trainer()
    h = t.fit(X, y, epochs=3, seed=0, augment=Mixup(alpha=0.4), validation_data=(X, y),
              verbose=False)  # fmt: skip
    assert all(np.isfinite(h.history["loss"])) and 0 <= h.history["accuracy"][-1] <= 1
    # validation (and evaluate) still score the labels with the Trainer's own loss
    assert h.history["val_loss"][-1] == pytest.approx(t.evaluate(X, y)["loss"], rel=1e-6)
    assert t._loss_call is not t._train_loss
    t.fit(X, y, epochs=1, verbose=False)  # the next fit without mixup: the labels' loss again
    assert t._train_loss is t._loss_call


def test_the_soft_loss_is_the_modules_loss_on_probabilities():
    # train_step's probability loss (the fused op, called directly) is CrossEntropyLoss's
    from deltaprop.train.augmenting import train_calls

    t = trainer()
    call, stat = train_calls(t, Augment("mixup"))
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 3))
    probs = rng.dirichlet(np.ones(3), size=5)
    expected = nn.CrossEntropyLoss()(dp.tensor(logits), probs).item()
    assert call(dp.tensor(logits), probs).item() == pytest.approx(expected, rel=1e-6)
    assert stat(logits, probs) == int((logits.argmax(1) == probs.argmax(1)).sum())
    weighted = dp.Trainer(t.model, loss=nn.CrossEntropyLoss(weight=[1.0, 2.0, 3.0]),
                          optimizer="sgd")  # fmt: skip
    wcall, _ = train_calls(weighted, Augment("mixup"))
    assert wcall(dp.tensor(logits), probs).item() == pytest.approx(
        weighted.loss(dp.tensor(logits), probs).item(), rel=1e-6
    )


def test_mixup_with_binary_and_regression_targets():
    X, y = data()
    t = trainer(loss="bce_with_logits", n_out=1)
    h = t.fit(X, (y > 0).astype(np.int64), epochs=2, augment="mixup,neighbours", verbose=False)
    assert np.isfinite(h.history["loss"]).all()
    r = trainer(loss="mse", n_out=1)
    h = r.fit(X, X[:, :1] * 2, epochs=2, augment="noise,mixup", verbose=False)
    assert np.isfinite(h.history["loss"]).all()


# --- bad input: a ConfigError before anything is touched ------------------------------------


@pytest.mark.parametrize(
    "loss, n_out, augment, labels, expected",
    [
        ("nll", 3, "mixup", "classes",
         "augment: mixup turns class labels into probabilities, which this loss cannot take"),
        ("mse", 1, "neighbours", "values", "neighbours: needs class labels"),
        ("cross_entropy", 3, "noise,shift,rotate", "classes",
         "augment: shift, rotate need images, and X has no image shape"),
        ("cross_entropy", 3, "wobble", "classes", "augment: unknown name 'wobble'"),
        ("cross_entropy", 3, 3.5, "classes", "augment: expected an Augment, an Augmentation"),
    ],
)  # fmt: skip
def test_bad_augmentation_is_refused_before_training(loss, n_out, augment, labels, expected):
    X, y = data()
    target = y if labels == "classes" else X[:, :1]
    t = trainer(loss=loss, n_out=n_out)
    before = weights(t)
    state = backend.rng().bit_generator.state
    with pytest.raises(ConfigError, match=expected):
        t.fit(X, target, epochs=1, augment=augment, verbose=False)
    assert same_weights(before, weights(t)) and backend.rng().bit_generator.state == state
    assert t.optimizer.state == {}


# --- checkpoints --------------------------------------------------------------------------------


def test_a_resumed_augmented_run_goes_on_bit_for_bit(tmp_path):
    X, y = data()

    def fit(epochs, **kwargs):
        t = trainer(dropout=0.2)
        dp.seed(7)
        aug = Augment("shift,noise,neighbours,mixup", image_shape=SHAPE)
        t.fit(X, y, epochs=epochs, batch_size=16, validation_split=0.2, augment=aug,
              verbose=False, **kwargs)  # fmt: skip
        return t

    for seed in (None, 2):
        path = tmp_path / f"state{seed}.ckpt"
        whole = weights(fit(4, seed=seed))
        fit(2, seed=seed, checkpoint=path)
        saved = ckpt.read(str(path)).state
        assert "neighbours(k=5)" in saved["fit"]["augment"]
        assert "augment" in saved["rng"]
        resumed = fit(4, seed=seed, resume_from=path, checkpoint=path)
        assert same_weights(whole, weights(resumed))


def test_a_checkpoint_must_meet_the_same_augmentation(tmp_path):
    X, y = data()
    path = tmp_path / "state.ckpt"
    trainer().fit(X, y, epochs=1, seed=0, augment="noise", checkpoint=path, verbose=False)
    for other in (None, "noise,mixup", [GaussianNoise(std=0.2)]):
        t = trainer()
        before = weights(t)
        with pytest.raises(ModelFileError, match="fit augment: 'noise.std=0.1.' in the file"):
            t.fit(X, y, epochs=2, seed=0, augment=other, resume_from=path, verbose=False)
        assert same_weights(before, weights(t))
    trainer().fit(X, y, epochs=2, seed=0, augment="noise", resume_from=path, verbose=False)


def _rewrite(path, edit):
    _, header, tensors = io.read_tensor_file(str(path))
    state = json.loads(header["state"])
    edit(state)
    text = json.dumps(state)
    new = {k: v for k, v in header.items() if k != "checksum"}
    new.update(state=text, state_checksum=io.checksum(text))
    io.write_tensor_file(str(path), tensors, new)


def test_an_old_checkpoint_without_augmentation_still_resumes(tmp_path):
    X, y = data()
    path = tmp_path / "state.ckpt"
    trainer().fit(X, y, epochs=1, seed=0, checkpoint=path, verbose=False)
    assert ckpt.read(str(path)).state["fit"]["augment"] is None
    assert "augment" not in ckpt.read(str(path)).state["rng"]
    _rewrite(path, lambda s: s["fit"].pop("augment"))  # as written before augmentation
    trainer().fit(X, y, epochs=2, seed=0, resume_from=path, verbose=False)
    with pytest.raises(ModelFileError, match="fit augment: None in the file, 'noise"):
        trainer().fit(X, y, epochs=2, seed=0, augment="noise", resume_from=path, verbose=False)


def test_the_generator_and_the_augmentation_are_recorded_together(tmp_path):
    X, y = data()
    path = tmp_path / "state.ckpt"
    trainer().fit(X, y, epochs=1, seed=0, augment="noise", checkpoint=path, verbose=False)
    _rewrite(path, lambda s: s["rng"].pop("augment"))
    with pytest.raises(ModelFileError, match="state.rng: the key 'augment' is missing"):
        ckpt.read(str(path))
    plain = tmp_path / "plain.ckpt"
    trainer().fit(X, y, epochs=1, seed=0, checkpoint=plain, verbose=False)
    library = ckpt.read(str(plain)).state["rng"]["library"]
    _rewrite(plain, lambda s: s["rng"].update(augment=library))
    with pytest.raises(ModelFileError, match="state.fit.augment: expected the augmentation"):
        ckpt.read(str(plain))
    _rewrite(path, lambda s: s["fit"].update(augment=3))
    with pytest.raises(ModelFileError, match="state.fit.augment: expected a string, got 3"):
        ckpt.read(str(path))
