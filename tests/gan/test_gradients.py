"""Backprop through two networks: the generator's gradient of the discriminator's loss,
checked against central finite differences in float64 on tiny pairs (dense + the tabular
output activations; convolutional + Upsample), and the Upsample layer on its own."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn
from deltaprop.gan import ConditionalGAN, Upsample
from deltaprop.gan.space import fit_space
from deltaprop.gan.training import _gumbel


@pytest.fixture
def float64():
    dp.set_default_dtype("float64")
    try:
        yield
    finally:
        dp.set_default_dtype("float32")


def _pair(X, y, kind, **options):
    """A fitted-but-untrained GAN: its space, classes and networks, built without training."""
    dp.seed(0)
    gan = ConditionalGAN(kind=kind, latent_dim=3, dropout=0.0, **options)
    gan.space = fit_space(X, gan.kind, gan.image_shape, "auto", 3, 0)
    gan.classes_ = np.unique(y)
    gan._build()
    return gan


def _check_generator_gradient(gan, n, tol=1e-6):
    gen = np.random.default_rng(1)
    z = gen.standard_normal((n, gan.latent_dim))
    onehot = gan._onehot(np.arange(n) % len(gan.classes_))
    noise = _gumbel(gen, (n, gan.space.width))
    params = gan.generator.parameters()
    assert all(p.data.dtype == np.float64 for p in params)

    def d_loss_on_fakes(*_):  # what the discriminator minimizes on generated rows ...
        logits = gan.discriminate(gan.generate(z, onehot, noise), onehot)
        return nn.BCEWithLogitsLoss()(logits, np.zeros((n, 1)))

    def g_loss(*_):  # ... and the non-saturating loss the generator minimizes
        logits = gan.discriminate(gan.generate(z, onehot, noise), onehot)
        return nn.BCEWithLogitsLoss()(logits, np.ones((n, 1)))

    for fn in (d_loss_on_fakes, g_loss):
        gan.generator.zero_grad()
        fn().backward()
        # A bias right before batch norm has gradient exactly 0 (the norm subtracts the
        # batch mean); a relative check of 0 against rounding noise is meaningless. Every
        # other generator parameter is checked.
        zero = [i for i, p in enumerate(params) if np.abs(p.grad.numpy()).max() < 1e-12]
        names = [name for name, _ in gan.generator.named_parameters()]
        assert all(names[i].endswith("bias") for i in zero), [names[i] for i in zero]
        checked = [p for i, p in enumerate(params) if i not in zero]
        assert len(checked) >= len(params) - 2
        assert dp.gradcheck(fn, checked, eps=1e-6, tol=tol)
        # the gradient that reached G came through D: D's parameters got gradients too
        assert all(p.grad is not None for p in gan.discriminator.parameters())


def test_generator_gradient_through_a_dense_discriminator(float64):
    rng = np.random.default_rng(0)
    # a continuous bimodal column, a continuous one and a categorical one (0/1/2)
    X = np.c_[np.r_[rng.normal(-3, 0.3, 10), rng.normal(3, 0.3, 10)], rng.normal(0, 1, 20),
              rng.integers(0, 3, 20)]  # fmt: skip
    gan = _pair(X, np.repeat([0, 1], 10), "tabular", hidden=(4,))
    kinds = {kind for _, _, kind in gan.space.transformer.spans}
    assert kinds == {"tanh", "softmax"}  # both output activations are in the checked path
    _check_generator_gradient(gan, n=5)


def test_generator_gradient_through_a_conv_discriminator(float64):
    X = np.random.default_rng(0).random((6, 1, 8, 8))
    gan = _pair(X, np.repeat([0, 1, 2], 2), "image", channels=((2, 2), (2,)))
    assert any(isinstance(m, Upsample) for m in gan.generator.modules())
    _check_generator_gradient(gan, n=3)


def test_upsample_repeats_each_pixel_and_sums_the_gradient_back(float64):
    x = dp.tensor(np.arange(8.0).reshape(1, 2, 2, 2), requires_grad=True)
    y = Upsample()(x)
    assert y.shape == (1, 2, 4, 4)
    np.testing.assert_array_equal(y.numpy()[0, 0], [[0, 0, 1, 1], [0, 0, 1, 1],
                                                    [2, 2, 3, 3], [2, 2, 3, 3]])  # fmt: skip
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((1, 2, 2, 2), 4.0))
    assert dp.gradcheck(lambda t: Upsample()(t) ** 2, [x])
    with pytest.raises(dp.ShapeError, match="Upsample: expected"):
        Upsample()(dp.tensor(np.zeros((2, 3))))
