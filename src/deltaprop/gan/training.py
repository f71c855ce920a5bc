"""The alternating training loop of :class:`~deltaprop.gan.ConditionalGAN` (see
:mod:`.model` for the losses), its per-epoch health logs and its NaN guard.

Per batch: ``d_steps`` discriminator updates on the real batch and a fresh generated one (the
generator run without a graph: its weights are not trained by L_D), then one generator
update through the discriminator. The generated rows are checked every step: a NaN or inf
stops training, the weights of the last good epoch are put back, and a TrainingError names
the epoch and step.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from .. import nn, optim
from ..autograd.tensor import Tensor
from ..config import no_grad
from ..errors import TrainingError
from ..train.callbacks import History
from . import health, plots

BCE = nn.BCEWithLogitsLoss()
#: Logged every epoch, in this order (and ``epoch_seconds``).
KEYS = ("d_loss", "g_loss", "d_real_accuracy", "d_fake_accuracy", "d_grad_norm", "g_grad_norm")


def _grad_norm(module: nn.Module) -> float:
    """The joint 2-norm of a network's gradients (measured, not clipped)."""
    params = [p for p in module.parameters() if p.grad is not None]
    return float(optim.clip_grad_norm(params, math.inf)) if params else 0.0


def _gumbel(gen: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    # -log(-log U), U in (0, 1): the Gumbel-max trick's noise (tiny floor: log(0) is -inf)
    u = gen.random(shape)
    return -np.log(-np.log(np.clip(u, 1e-12, 1.0 - 1e-12)))


def _snapshot(gan: Any) -> tuple[dict, dict]:
    return gan.generator.state_dict(), gan.discriminator.state_dict()


def _nonfinite(epoch: int, step: int, what: str, gan: Any, good: tuple[dict, dict]) -> None:
    gan.generator.load_state_dict(good[0])
    gan.discriminator.load_state_dict(good[1])
    kept = f"the weights after epoch {epoch - 1}" if epoch > 1 else "the initial weights"
    raise TrainingError(
        f"epoch {epoch}, step {step}: {what} became NaN or inf; training stopped and {kept} "
        "(the last good ones) were kept. Try a smaller lr."
    )


def fit_gan(
    gan: Any,
    E: np.ndarray,
    idx: np.ndarray,
    epochs: int,
    batch_size: int,
    gen: np.random.Generator,
    verbose: bool,
    log_every: int,
    plot: str | None,
    plot_every: int | None,
    check_collapse: bool,
) -> tuple[History, Any]:
    """Train ``gan``'s networks on encoded rows E (N, ...) of classes ``idx`` (N,); return
    the History and the health verdict. Plots (``plot_every`` checked by the caller, with
    the folder) are written at the end."""
    G, D = gan.generator, gan.discriminator
    betas = gan.betas
    opt_g = optim.Adam(G.parameters(), lr=gan.lr, betas=betas)
    opt_d = optim.Adam(D.parameters(), lr=gan.lr, betas=betas)
    dtype = gan._dtype()
    n = len(E)
    history = History()
    history.params = {"epochs": epochs, "batch_size": batch_size, "rows": n}
    history.on_train_begin()
    grids: list[tuple[int, bytes]] = []
    probe = np.arange(8 * gan.n_classes) // 8  # a grid: 8 samples of every class
    probe_rng_seed = int(gen.integers(2**31 - 1))
    G.train()
    D.train()
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        good = _snapshot(gan)
        order = gen.permutation(n)
        sums = dict.fromkeys(KEYS, 0.0)
        steps = 0
        for step, at in enumerate(range(0, n, batch_size), 1):
            rows = order[at : at + batch_size]
            if len(rows) < 2:  # batch norm needs 2 rows; the row comes again next epoch
                continue
            x_real = Tensor(E[rows].astype(dtype))
            onehot = gan._onehot(idx[rows])
            m = len(rows)
            ones, zeros = np.ones((m, 1), dtype), np.zeros((m, 1), dtype)
            for _ in range(gan.d_steps):
                z = gen.standard_normal((m, gan.latent_dim))
                with no_grad():
                    fake = gan.generate(z, onehot, _gumbel(gen, (m, gan.space.width)))
                if not np.all(np.isfinite(fake.data)):
                    _nonfinite(epoch, step, "the generated samples", gan, good)
                d_real = gan.discriminate(x_real, onehot)
                d_fake = gan.discriminate(fake, onehot)
                loss_d = BCE(d_real, ones) + BCE(d_fake, zeros)
                D.zero_grad()
                loss_d.backward()
                d_norm = _grad_norm(D)
                opt_d.step()
            z = gen.standard_normal((m, gan.latent_dim))
            fake = gan.generate(z, onehot, _gumbel(gen, (m, gan.space.width)))
            loss_g = BCE(gan.discriminate(fake, onehot), ones)  # non-saturating: target 1
            G.zero_grad()
            D.zero_grad()
            loss_g.backward()  # through D into G; only G's optimizer steps
            g_norm = _grad_norm(G)
            opt_g.step()
            values = (float(loss_d.item()), float(loss_g.item()),
                      float(np.mean(d_real.data > 0)), float(np.mean(d_fake.data < 0)),
                      d_norm, g_norm)  # fmt: skip
            if not all(map(math.isfinite, values)):
                _nonfinite(epoch, step, "the losses or gradients", gan, good)
            for key, value in zip(KEYS, values):
                sums[key] += value
            steps += 1
        logs = {k: v / max(steps, 1) for k, v in sums.items()}
        logs["epoch_seconds"] = time.perf_counter() - start
        history.on_epoch_end(epoch - 1, logs)
        if verbose and (epoch % log_every == 0 or epoch == epochs or epoch == 1):
            print(health.epoch_line(epoch, epochs, logs), flush=True)
        if (
            plot is not None
            and gan.space.kind == "image"
            and (
                epoch % plot_every == 0 or epoch == epochs  # type: ignore[operator]
            )
        ):
            E_probe = gan.generate_encoded(probe, np.random.default_rng(probe_rng_seed))
            png = plots.sample_grid_png(gan.space.decode(E_probe), probe, gan.classes_,
                                        gan.space, epoch)  # fmt: skip
            grids.append((epoch, png))
    G.eval()
    D.eval()
    collapse = health.mode_collapse(gan, E, idx, gen) if check_collapse else None
    verdict = health.diagnose(history, collapse)
    if plot is not None:
        plots.write_plots(plot, history, grids)
    return history, verdict
