"""ConditionalGAN: a generator and a discriminator, ordinary deltaprop models, trained against
each other by the same backward pass.

One step (per batch of real rows x with labels y, after Goodfellow et al., 2014, with the
non-saturating generator loss of the same paper)::

    discriminator: L_D = BCE(D(x, y), 1) + BCE(D(G(z, y), y), 0)     G's output held fixed
    generator:     L_G = BCE(D(G(z, y), y), 1)                       = -log sigmoid(D(G(z)))

L_G's backward runs through the discriminator into the generator: the discriminator's
gradient with respect to its input is the generator's error signal. The non-saturating form
(-log D(G(z)) rather than log(1 - D(G(z)))) keeps that signal strong when the discriminator is
sure the samples are fake, early in training. Each network has its own Adam (beta1 = 0.5, as
DCGAN); only the generator's optimizer steps on L_G, so the discriminator's gradients from it
are thrown away.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import backend, ops
from ..autograd.tensor import Tensor
from ..checks import check_choice, check_fraction, check_int, check_real
from ..config import no_grad
from ..errors import ConfigError, DataError, ModelFileError
from ..nn.module import Module
from . import networks, plots
from .files import read_gan, save_gan
from .space import DataSpace, fit_space, label_indices
from .training import fit_gan

KINDS = ("auto", "tabular", "image")


class ConditionalGAN:
    """A conditional GAN for labelled data: rows (tabular) or images.

    Args:
        kind: ``"tabular"`` (rows, encoded by a :class:`~deltaprop.gan.TabularTransformer`),
            ``"image"`` ((N, C, H, W), or rows with ``image_shape``; convolutional networks)
            or ``"auto"`` (images when X is 4-D or ``image_shape`` is given).
        latent_dim: size of the noise z fed to the generator with the label.
        hidden: widths of the dense networks' hidden layers (tabular).
        channels: (generator widths, discriminator widths) of the convolutional networks.
        generator, discriminator: your own Modules instead of the defaults (built at ``fit``,
            when the data's sizes are known). The generator maps (N, latent_dim + K) to raw
            encoded rows (N, width) (tabular) or to images in [-1, 1]; the discriminator maps
            (N, width + K) rows, or (N, C + K, H, W) images, to (N, 1) logits. K = classes.
        lr, betas: both Adam optimizers' settings.
        d_steps: discriminator updates per generator update.
        dropout: dropout of the dense discriminator.
        image_shape: (C, H, W) when X holds images as flat rows.
        categorical, n_modes: the tabular encoding (see TabularTransformer).
        tau: Gumbel-softmax temperature of the generator's one-hot blocks while training.
    """

    def __init__(
        self,
        kind: str = "auto",
        latent_dim: int = 32,
        hidden: Sequence[int] = (128, 128),
        channels: tuple[Sequence[int], Sequence[int]] = ((64, 32), (32, 64)),
        generator: Module | None = None,
        discriminator: Module | None = None,
        lr: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        d_steps: int = 1,
        dropout: float = 0.3,
        image_shape: Sequence[int] | None = None,
        categorical: Sequence[int] | str | None = "auto",
        n_modes: int = 10,
        tau: float = 0.2,
    ) -> None:
        self.kind = check_choice(kind, KINDS, "kind")
        self.latent_dim = check_int(latent_dim, "latent_dim")
        self.hidden = tuple(check_int(h, "hidden") for h in hidden)
        if not (isinstance(channels, (tuple, list)) and len(channels) == 2):
            raise ConfigError(f"channels: expected (generator widths, discriminator widths), "
                              f"got {channels!r}")  # fmt: skip
        self.channels = tuple(tuple(check_int(c, "channels") for c in part) for part in channels)
        for name, net in (("generator", generator), ("discriminator", discriminator)):
            if net is not None and not isinstance(net, Module):
                raise ConfigError(f"{name}: expected a deltaprop Module, got {type(net).__name__}")
        self.generator, self.discriminator = generator, discriminator
        self.lr = check_real(lr, "lr", strict=True)
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
            raise ConfigError(f"betas: expected two numbers in [0, 1), got {betas!r}")
        self.betas = tuple(check_fraction(b, "betas", closed_low=True) for b in betas)
        self.d_steps = check_int(d_steps, "d_steps")
        self.dropout = check_fraction(dropout, "dropout", closed_low=True)
        self.image_shape = None if image_shape is None else tuple(image_shape)
        self.categorical = categorical
        self.n_modes = check_int(n_modes, "n_modes")
        self.tau = check_real(tau, "tau", strict=True)
        self.space: DataSpace | None = None
        self.classes_: np.ndarray | None = None
        self.history: Any = None
        self.verdict: Any = None

    # -- the two networks -------------------------------------------------------------------
    @property
    def n_classes(self) -> int:
        self._check_fitted()
        return len(self.classes_)  # type: ignore[arg-type]

    def _build(self) -> None:
        space, k = self.space, len(self.classes_)  # type: ignore[arg-type]
        n_in = self.latent_dim + k
        if space.kind == "tabular":  # type: ignore[union-attr]
            if self.generator is None:
                self.generator = networks.dense_generator(n_in, space.width, self.hidden)
            if self.discriminator is None:
                self.discriminator = networks.dense_discriminator(
                    space.width + k, self.hidden, self.dropout
                )
        else:
            c = space.image_shape[0]  # type: ignore[index]
            if self.generator is None:
                self.generator = networks.conv_generator(n_in, space.image_shape,
                                                         self.channels[0])  # fmt: skip
            if self.discriminator is None:
                self.discriminator = networks.conv_discriminator(c + k, space.image_shape,
                                                                 self.channels[1])  # fmt: skip

    def _dtype(self) -> Any:
        params = self.generator.parameters()  # type: ignore[union-attr]
        return params[0].data.dtype if params else backend.default_dtype()

    def _onehot(self, idx: np.ndarray) -> np.ndarray:
        return np.eye(len(self.classes_), dtype=self._dtype())[idx]  # type: ignore[arg-type]

    def generate(self, z: np.ndarray, onehot: np.ndarray, noise: np.ndarray | None) -> Tensor:
        """G(z, y) in network space: encoded rows (N, width) or images (N, C, H, W).
        ``noise``: Gumbel noise for the tabular one-hot blocks (None: plain softmax)."""
        inputs = Tensor(np.concatenate([z, onehot], axis=1).astype(self._dtype()))
        out = self.generator(inputs)  # type: ignore[misc]
        if self.space.transformer is not None:  # type: ignore[union-attr]
            out = self.space.transformer.activate(out, noise, self.tau)  # type: ignore[union-attr]
        return out

    def discriminate(self, x: Tensor, onehot: np.ndarray) -> Tensor:
        """D(x, y): (N, 1) logits; the label enters as K more columns, or as K constant planes
        of an image."""
        if x.ndim == 4:
            n, _, h, w = x.shape
            planes = np.broadcast_to(onehot[:, :, None, None], (n, onehot.shape[1], h, w))
            cond = Tensor(np.ascontiguousarray(planes, dtype=x.data.dtype))
        else:
            cond = Tensor(onehot.astype(x.data.dtype))
        return self.discriminator(ops.concatenate([x, cond], axis=1))  # type: ignore[misc]

    # -- fit / sample -----------------------------------------------------------------------
    def fit(
        self,
        X: Any,
        y: Any,
        epochs: int = 300,
        batch_size: int = 64,
        seed: int | None = None,
        verbose: bool = False,
        log_every: int = 10,
        plot: str | None = None,
        plot_every: int | None = None,
        check_collapse: bool = True,
    ) -> Any:
        """Train on X (N, d) rows or images with labels y (N,); return the History.

        Every epoch logs into the History: ``d_loss``, ``g_loss``, ``d_real_accuracy``,
        ``d_fake_accuracy`` (the discriminator's accuracy on the epoch's real and generated
        rows), ``d_grad_norm`` and ``g_grad_norm`` (each network's gradient norm, mean over
        steps) and ``epoch_seconds``. At the end :attr:`verdict` names the usual failures
        (:func:`deltaprop.gan.diagnose`).

        Args:
            seed: seeds the batches and noise (None: drawn from deltaprop's generator, so
                ``dp.seed(n)`` makes the run repeatable).
            plot: a folder for ``loss_curves.png`` and, for images, ``samples_epoch_N.png``
                (a grid, a row per class) every ``plot_every`` epochs (default: 10 grids);
                written when training ends well, so a failed run writes nothing.
            check_collapse: measure mode collapse at the end (nearest real neighbours).

        Raises:
            DataError: bad X or y (NaN, shapes, fewer than 2 classes or 2 rows).
            TrainingError: the generator's samples or a loss became NaN/inf: names the epoch;
                the weights of the last good epoch are kept.
        """
        X, y = _check_data(X, y)
        epochs = check_int(epochs, "epochs")
        if plot is not None:  # before anything changes: a bad folder leaves the GAN as it was
            plot = os.fspath(plot)
            plot_every = plots.check_plot_folder(plot, plot_every, epochs)
        batch_size = check_int(batch_size, "batch_size", minimum=2)
        gen = backend.spawn_rng(None if seed is None else check_int(seed, "seed", minimum=0))
        classes, idx = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise DataError(f"y: expected at least 2 classes, got 1 ({classes[0]!r})")
        space = fit_space(X, self.kind, self.image_shape, self.categorical, self.n_modes,
                          int(gen.integers(2**31 - 1)))  # fmt: skip
        old = (self.space, self.classes_)
        self.space, self.classes_ = space, classes
        try:
            self._build()
        except Exception:
            self.space, self.classes_ = old
            raise
        self.history, self.verdict = fit_gan(
            self, space.encode(X), idx.reshape(-1), epochs, batch_size, gen, verbose,
            check_int(log_every, "log_every"), plot, plot_every, check_collapse,
        )  # fmt: skip
        return self.history

    def sample(self, n: int, labels: Any = None, seed: int | None = None) -> tuple[Any, Any]:
        """``(X, y)``: n generated samples in the data's units and shape, with their labels.

        ``labels``: None (the classes in turn, as evenly as n allows), one class (all n of
        it) or n labels, in the values ``fit`` got; a label outside the trained classes is a
        ConfigError naming it. ``seed`` makes the draw repeatable (None: deltaprop's
        generator)."""
        self._check_fitted()
        n = check_int(n, "n")
        if labels is None:
            idx = np.arange(n) % len(self.classes_)  # type: ignore[arg-type]
        else:
            given = np.asarray(labels)
            given = np.full(n, given.item()) if given.ndim == 0 else given
            if given.ndim == 1 and len(given) != n:
                raise ConfigError(f"labels: expected one label or n = {n} labels, got "
                                  f"{len(given)}")  # fmt: skip
            idx = label_indices(self.classes_, given)  # type: ignore[arg-type]
        gen = backend.spawn_rng(None if seed is None else check_int(seed, "seed", minimum=0))
        E = self.generate_encoded(idx, gen)
        return self.space.decode(E), self.classes_[idx]  # type: ignore[index,union-attr]

    def generate_encoded(self, idx: np.ndarray, gen: np.random.Generator) -> np.ndarray:
        """Samples of classes ``idx`` (indices) in network space, eval mode, in batches."""
        out = []
        g = self.generator
        with no_grad(), g.evaluating():  # type: ignore[union-attr]
            for start in range(0, len(idx), 1024):
                part = idx[start : start + 1024]
                z = gen.standard_normal((len(part), self.latent_dim))
                out.append(self.generate(z, self._onehot(part), None).numpy())
        if not out:
            shape = (0, self.space.width) if self.space.kind == "tabular" else (  # type: ignore[union-attr]
                0, *self.space.image_shape)  # type: ignore[union-attr,misc]  # fmt: skip
            return np.zeros(shape, np.float32)
        return np.concatenate(out)

    # -- files ------------------------------------------------------------------------------
    def save(self, path: Any) -> None:
        """Both networks and the data description in one model file (:mod:`.files`)."""
        save_gan(self, path)

    @classmethod
    def load(cls, path: Any) -> ConditionalGAN:
        """A GAN saved by :meth:`save`, ready to :meth:`sample` (ModelFileError for a file
        that is not one, or was changed)."""
        pair, s, classes, space = read_gan(path)
        try:
            gan = cls(
                kind=s["kind"], latent_dim=s["latent_dim"], hidden=s["hidden"],
                channels=tuple(s["channels"]), generator=pair.generator,
                discriminator=pair.discriminator, lr=s["lr"], betas=tuple(s["betas"]),
                d_steps=s["d_steps"], dropout=s["dropout"], n_modes=s["n_modes"], tau=s["tau"],
            )  # fmt: skip
        except (KeyError, TypeError, ValueError, ConfigError) as exc:
            raise ModelFileError(f"{path}: the GAN's settings are malformed: {exc}") from None
        gan.space, gan.classes_ = space, classes
        return gan

    def _check_fitted(self) -> None:
        if self.space is None or self.classes_ is None or self.generator is None:
            raise ConfigError("ConditionalGAN: not fitted; call fit(X, y) first")

    def __repr__(self) -> str:
        if self.space is None:
            return f"ConditionalGAN(kind={self.kind!r}, not fitted)"
        return (f"ConditionalGAN({self.space.kind}, {self.space.n_features} features, "
                f"{len(self.classes_)} classes, latent_dim={self.latent_dim})")  # type: ignore[arg-type]  # fmt: skip


def _check_data(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X)
    if X.dtype.kind not in "fiub" or X.ndim not in (2, 4) or len(X) < 2:
        raise DataError(f"X: expected at least 2 rows (N, d) or images (N, C, H, W) of numbers, "
                        f"got shape {X.shape} of {X.dtype}")  # fmt: skip
    if not np.all(np.isfinite(X)):
        raise DataError("X: holds NaN or inf")
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(X):
        raise DataError(f"y: expected {len(X)} labels (N,), got shape {y.shape}")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise DataError("y: expected class labels, got non-integer or non-finite numbers")
    return X.astype(np.float32), y
