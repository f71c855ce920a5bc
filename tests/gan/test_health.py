"""The GAN verdicts: the discriminator wins, the generator's gradients vanish, mode collapse
(nearest real neighbours), healthy; and the per-epoch line."""

from __future__ import annotations

import numpy as np

from deltaprop import nn
from deltaprop.gan import ConditionalGAN, diagnose, mode_collapse
from deltaprop.gan.health import coverage, epoch_line


def _history(real, fake, g_norm, n=10):
    return {
        "d_loss": [1.0] * n, "g_loss": [1.0] * n, "d_real_accuracy": [real] * n,
        "d_fake_accuracy": [fake] * n, "d_grad_norm": [0.5] * n, "g_grad_norm": g_norm,
    }  # fmt: skip


def test_a_balanced_run_is_healthy():
    v = diagnose(_history(0.6, 0.55, [0.3] * 10))
    assert v.status == "healthy" and v.healthy and "neither side wins" in v.findings[0]


def test_the_discriminator_wins():
    v = diagnose(_history(0.99, 0.98, [0.3] * 10))
    assert v.status == "discriminator_wins"
    assert "right on 99% of real and 98% of generated" in v.findings[0]


def test_vanishing_generator_gradients_are_named_with_the_discriminator_winning():
    norms = [1.0] * 5 + [1e-5] * 5
    v = diagnose(_history(1.0, 1.0, norms))
    assert v.status == "vanishing_generator_gradients"
    assert len(v.findings) == 2 and "gradients vanish: their norm fell to 1e-05" in v.findings[1]


def test_coverage_of_real_data_against_itself_and_of_one_point():
    rng = np.random.default_rng(0)
    real = rng.standard_normal((200, 3))
    gen, ref = coverage(rng.standard_normal((100, 3)), real, rng)
    assert gen > 0.4 and ref > 0.4  # fresh draws hit many neighbours
    collapsed, _ = coverage(np.zeros((100, 3)), real, rng)
    assert collapsed == 1 / 100


class Constant(nn.Module):
    """A collapsed generator: the same output whatever z and the label are."""

    def __init__(self, width):
        super().__init__()
        self.lin = nn.Linear(1, width)

    def forward(self, x):
        return self.lin(x[:, :1] * 0.0)


def test_mode_collapse_is_found_by_nearest_real_neighbours():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 3)).astype(np.float32)
    y = np.repeat([0, 1], 40)
    gan = ConditionalGAN(generator=Constant(6), n_modes=1, categorical=None, hidden=(8,))
    gan.fit(X, y, epochs=1, seed=0)
    assert gan.verdict.status == "mode_collapse"
    assert sorted(gan.verdict.collapse["collapsed"]) == ["0", "1"]
    assert "mode collapse" in gan.verdict.findings[-1]
    # a generator that draws from the data's own distribution does not collapse
    E, idx = gan.space.encode(X), np.searchsorted(gan.classes_, y)

    class Resample:
        classes_ = gan.classes_

        def generate_encoded(self, labels, gen):
            return np.stack([E[gen.choice(np.flatnonzero(idx == k))] for k in labels])

    found = mode_collapse(Resample(), E, idx, np.random.default_rng(1))
    assert found["collapsed"] == [] and set(found["classes"]) == {"0", "1"}


def test_epoch_line():
    logs = {"d_loss": 1.2, "g_loss": 0.8, "d_real_accuracy": 0.6, "d_fake_accuracy": 0.55,
            "g_grad_norm": 0.123, "d_grad_norm": 0.456}  # fmt: skip
    assert epoch_line(3, 10, logs) == ("epoch 3/10  d_loss 1.2000  g_loss 0.8000  D acc real "
                                       "0.60 fake 0.55  |grad| G 0.123 D 0.456")  # fmt: skip
