"""ConditionalGAN: fit / sample, the label conditioning, the History's health keys,
reproducibility, and bad input (labels outside the trained classes, NaN in training)."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn
from deltaprop.gan import ConditionalGAN
from deltaprop.gan.training import KEYS


def _two_blobs(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = np.r_[rng.normal(-3, 0.5, (n, 2)), rng.normal(3, 0.5, (n, 2))].astype(np.float32)
    return X, np.repeat([3, 7], n)  # labels that are not 0..k-1


def test_fit_logs_health_every_epoch_and_sample_follows_the_label():
    X, y = _two_blobs(40)
    gan = ConditionalGAN(hidden=(32,), lr=2e-3)
    history = gan.fit(X, y, epochs=50, batch_size=20, seed=0)
    for key in (*KEYS, "epoch_seconds"):
        assert len(history.history[key]) == 50
    assert all(0 <= a <= 1 for a in history.history["d_real_accuracy"])
    assert gan.verdict is not None and gan.verdict.findings
    Xs, ys = gan.sample(200, seed=0)
    assert Xs.shape == (200, 2) and Xs.dtype == np.float32 and sorted(set(ys)) == [3, 7]
    # the label is an input of the generator: each class's samples sit at its own blob
    assert Xs[ys == 3].mean() < -1.5 and Xs[ys == 7].mean() > 1.5
    Xa, ya = gan.sample(5, labels=7, seed=1)
    assert ya.tolist() == [7] * 5 and Xa.mean() > 1.5
    Xb, yb = gan.sample(3, labels=[3, 7, 3], seed=1)
    assert yb.tolist() == [3, 7, 3]


def test_dp_seed_makes_runs_bit_identical():
    X, y = _two_blobs(20)
    runs = []
    for _ in range(2):
        dp.seed(5)
        gan = ConditionalGAN(hidden=(8,))
        h = gan.fit(X, y, epochs=3, batch_size=16)
        runs.append((h.history["g_loss"], gan.sample(6)[0]))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


def test_labels_outside_the_trained_classes_are_named():
    X, y = _two_blobs(10)
    gan = ConditionalGAN(hidden=(8,))
    with pytest.raises(dp.ConfigError, match="not fitted"):
        gan.sample(3)
    gan.fit(X, y, epochs=1, seed=0, check_collapse=False)
    with pytest.raises(dp.ConfigError, match=r"labels: 0, 9 are not among the trained classes "
                                             r"\[3, 7\]"):  # fmt: skip
        gan.sample(4, labels=[3, 0, 9, 0])
    with pytest.raises(dp.ConfigError, match="labels: 'a' is not among"):
        gan.sample(2, labels="a")
    with pytest.raises(dp.ConfigError, match="labels: expected one label or n = 4 labels"):
        gan.sample(4, labels=[3, 7])
    with pytest.raises(dp.ConfigError, match="n: expected an integer >= 1"):
        gan.sample(0)


class NaNAfter(nn.Module):
    """A generator that works for ``good`` calls in training mode, then returns NaN."""

    def __init__(self, inner, good):
        super().__init__()
        self.inner = inner
        self.calls = 0
        self.good = good

    def forward(self, x):
        out = self.inner(x)
        if self.training:
            self.calls += 1
            if self.calls > self.good:
                return out * float("nan")
        return out


def test_nan_in_generated_samples_stops_training_naming_the_epoch_and_keeps_good_weights():
    X, y = _two_blobs(16)  # 32 rows, batch 16: 2 steps, 4 generator calls per epoch
    dp.seed(0)
    # one mode per column: encoded rows are [alpha, mode] per column, 4 values
    inner = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4))
    gan = ConditionalGAN(generator=NaNAfter(inner, good=8), latent_dim=2, hidden=(8,), n_modes=1)
    message = r"epoch 3, step 1: the generated samples became NaN or inf; .*weights after epoch 2"
    with pytest.raises(dp.TrainingError, match=message):
        gan.fit(X, y, epochs=5, batch_size=16, seed=0)
    weights = [p.numpy() for p in inner.parameters()]
    assert all(np.all(np.isfinite(w)) for w in weights)
    # kept: the weights at the end of epoch 2, not those of a step into epoch 3
    dp.seed(0)
    ref_inner = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4))
    ref = ConditionalGAN(generator=ref_inner, latent_dim=2, hidden=(8,), n_modes=1)
    ref.fit(X, y, epochs=2, batch_size=16, seed=0, check_collapse=False)
    for w, r in zip(weights, ref_inner.parameters()):
        np.testing.assert_array_equal(w, r.numpy())


def test_bad_arguments_and_data():
    X, y = _two_blobs(5)
    with pytest.raises(dp.ConfigError, match="kind: unknown name 'gif'"):
        ConditionalGAN(kind="gif")
    with pytest.raises(dp.ConfigError, match="generator: expected a deltaprop Module"):
        ConditionalGAN(generator="G")
    with pytest.raises(dp.ConfigError, match="lr: expected a finite number > 0"):
        ConditionalGAN(lr=0)
    gan = ConditionalGAN(hidden=(4,))
    with pytest.raises(dp.DataError, match="X: holds NaN"):
        gan.fit(np.where(X > 0, np.nan, X), y, epochs=1)
    with pytest.raises(dp.DataError, match="y: expected 10 labels"):
        gan.fit(X, y[:3], epochs=1)
    with pytest.raises(dp.DataError, match="y: expected at least 2 classes"):
        gan.fit(X, np.zeros(10), epochs=1)
    with pytest.raises(dp.DataError, match="y: expected class labels"):
        gan.fit(X, np.linspace(0, 1, 10), epochs=1)
    with pytest.raises(dp.ConfigError, match="batch_size: expected an integer >= 2"):
        gan.fit(X, y, epochs=1, batch_size=1)
    with pytest.raises(dp.DataError, match="expected rows .* for a tabular GAN"):
        ConditionalGAN(kind="tabular").fit(np.zeros((4, 1, 2, 2)), [0, 1, 0, 1], epochs=1)
    assert gan.space is None  # nothing was fitted by the failed calls


def test_image_gan_on_tiny_digits_like_data():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 17, (12, 64)).astype(np.float32)  # flat rows + image_shape
    X[:, 0], X[:, 1] = 0, rng.integers(3, 5, 12)  # a pixel always blank, one in [3, 4]
    y = np.repeat([0, 1, 2], 4)
    gan = ConditionalGAN(image_shape=(1, 8, 8), latent_dim=4, channels=((4, 4), (4,)))
    gan.fit(X, y, epochs=1, batch_size=6, seed=0)
    assert gan.space.kind == "image" and gan.space.flat
    Xs, ys = gan.sample(6, seed=0)
    assert Xs.shape == (6, 64) and Xs.min() >= 0 and Xs.max() <= 16
    # every pixel stays in its own training range: the blank one blank
    assert np.all(Xs[:, 0] == 0) and np.all((Xs[:, 1] >= 3) & (Xs[:, 1] <= 4))
    X4 = X.reshape(12, 1, 8, 8)
    gan4 = ConditionalGAN(latent_dim=4, channels=((4,), (4,)))
    gan4.fit(X4, y, epochs=1, batch_size=6, seed=0, check_collapse=False)
    assert gan4.sample(3)[0].shape == (3, 1, 8, 8)
    with pytest.raises(dp.ConfigError, match="image_shape: expected .C, H, W. with C.H.W = 64"):
        ConditionalGAN(image_shape=(1, 4, 4)).fit(X, y, epochs=1)
