"""A GAN's training health: the per-epoch line, mode collapse, and the verdict.

The gradient doctor (:mod:`deltaprop.diagnostics`) judges one network's layers; a GAN fails
in its own ways, named here from its History (:data:`~deltaprop.gan.training.KEYS`):

- **the discriminator wins**: it tells real from generated nearly always (accuracy on both
  above :data:`WIN_ACCURACY` over the last epochs). The generator then learns from a
  discriminator that is flat around its samples;
- **the generator's gradients vanish**: its gradient norm falls below :data:`VANISH_RATIO`
  of its peak: nothing reaches it through the discriminator any more;
- **mode collapse**: the generator makes a few kinds of sample whatever z is. Measured by
  nearest real neighbours: every generated sample of a class is matched to its nearest real
  row of that class, and the number of distinct rows matched is compared with what a second
  sample of real data gets (half the real rows matched against the other half). Collapsed
  samples all land on a handful of rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

WIN_ACCURACY = 0.95
VANISH_RATIO = 1e-3
COLLAPSE_RATIO = 0.3  # distinct neighbours below 30% of real data's own: collapsed
WINDOW = 5  # epochs judged at the end of the run
MAX_PER_CLASS = 300  # rows per class used by the neighbour search (it is quadratic)


@dataclass
class GANVerdict:
    """``status``: "healthy", "discriminator_wins", "vanishing_generator_gradients" or
    "mode_collapse" (the first failure found, in that order of checks reversed: collapse
    first); ``findings``: one line per observation; ``collapse``: per-class coverage."""

    status: str
    findings: list[str] = field(default_factory=list)
    collapse: dict[str, Any] | None = None

    @property
    def healthy(self) -> bool:
        return self.status == "healthy"


def epoch_line(epoch: int, epochs: int, logs: dict[str, float]) -> str:
    """``epoch 10/300  d_loss 1.2345  g_loss 0.8123  D acc real 0.61 fake 0.55  |grad| G
    0.123 D 0.456``."""
    return (
        f"epoch {epoch}/{epochs}  d_loss {logs['d_loss']:.4f}  g_loss {logs['g_loss']:.4f}  "
        f"D acc real {logs['d_real_accuracy']:.2f} fake {logs['d_fake_accuracy']:.2f}  "
        f"|grad| G {logs['g_grad_norm']:.3g} D {logs['d_grad_norm']:.3g}"
    )


def _distinct_neighbours(queries: np.ndarray, rows: np.ndarray) -> int:
    """How many distinct rows of ``rows`` (m, f) are the nearest neighbour of some query."""
    d2 = (queries**2).sum(1)[:, None] - 2.0 * queries @ rows.T + (rows**2).sum(1)[None, :]
    return len(np.unique(np.argmin(d2, axis=1)))


def coverage(fake: np.ndarray, real: np.ndarray, gen: np.random.Generator) -> tuple[float, float]:
    """``(generated, reference)``: distinct nearest real rows per query, for ``fake`` (n, f)
    against half of ``real`` (m, f), and for the other half of ``real`` against the same half
    (the value data drawn from the real distribution gets)."""
    order = gen.permutation(len(real))
    half = len(real) // 2
    base, held = real[order[:half]], real[order[half : 2 * half]]
    q = fake[: len(held)]
    return (_distinct_neighbours(q, base) / len(q), _distinct_neighbours(held, base) / len(held))


def mode_collapse(gan: Any, E: np.ndarray, idx: np.ndarray, gen: np.random.Generator) -> dict:
    """Per class (at least 4 real rows), the coverage of generated samples against the real
    rows E (network space, flattened) of that class: ``{"classes": {name: (generated,
    reference)}, "collapsed": [names]}``."""
    out: dict[str, Any] = {"classes": {}, "collapsed": []}
    for k, name in enumerate(gan.classes_):
        real = E[idx == k][:MAX_PER_CLASS].reshape(-1, int(np.prod(E.shape[1:])))
        if len(real) < 4:
            continue
        real = real.astype(np.float64)
        fake = gan.generate_encoded(np.full(len(real) // 2, k), gen)
        fake = fake.reshape(len(fake), -1).astype(np.float64)
        got, ref = coverage(fake, real, gen)
        out["classes"][str(name)] = (round(got, 4), round(ref, 4))
        if got < COLLAPSE_RATIO * ref:
            out["collapsed"].append(str(name))
    return out


def diagnose(history: Any, collapse: dict | None = None, window: int = WINDOW) -> GANVerdict:
    """The verdict on a GAN run from its History (and :func:`mode_collapse`'s result)."""
    h = history.history if hasattr(history, "history") else history
    findings: list[str] = []
    statuses: list[str] = []
    tail = slice(-window, None)
    real = float(np.mean(h["d_real_accuracy"][tail]))
    fake = float(np.mean(h["d_fake_accuracy"][tail]))
    if real >= WIN_ACCURACY and fake >= WIN_ACCURACY:
        statuses.append("discriminator_wins")
        findings.append(
            f"the discriminator wins: over the last {min(window, len(h['d_loss']))} epochs it "
            f"is right on {real:.0%} of real and {fake:.0%} of generated rows (d_loss "
            f"{h['d_loss'][-1]:.3g}); try a smaller discriminator, more dropout, or fewer "
            "d_steps"
        )
    g = np.asarray(h["g_grad_norm"], dtype=float)
    peak = float(np.max(g)) if len(g) else 0.0
    last = float(np.mean(g[tail])) if len(g) else 0.0
    if peak > 0 and last < VANISH_RATIO * peak:
        statuses.append("vanishing_generator_gradients")
        findings.append(
            f"the generator's gradients vanish: their norm fell to {last:.3g}, "
            f"{last / peak:.1e} of its peak {peak:.3g}; nothing reaches the generator through "
            "the discriminator any more"
        )
    if collapse is not None and collapse["collapsed"]:
        statuses.append("mode_collapse")
        shown = ", ".join(
            f"{c} ({collapse['classes'][c][0]:.0%} vs {collapse['classes'][c][1]:.0%})"
            for c in collapse["collapsed"]
        )
        findings.append(
            "mode collapse: generated samples land on few nearest real neighbours in class "
            f"{shown} (distinct neighbours per sample, generated vs real data); train longer, "
            "lower lr, or change the latent_dim"
        )
    if not statuses:
        findings.append(
            f"healthy: the discriminator is right on {real:.0%} of real and {fake:.0%} of "
            "generated rows (neither side wins), the generator still receives gradients"
            + (", and no class collapsed" if collapse is not None else "")
        )
    status = statuses[-1] if statuses else "healthy"
    return GANVerdict(status, findings, collapse)
