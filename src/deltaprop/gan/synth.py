"""``deltaprop synth`` as a function: a data set's TRAINING part -> a ConditionalGAN -> an NPZ
file of labelled synthetic rows that ``deltaprop train --dataset`` reads, and that
``deltaprop train --synthetic`` mixes into a run's training part.

The GAN sees only the rows that ``deltaprop train`` with the same ``seed`` and ``test_size``
trains on (the same stratified split): synthetic rows made from test rows would leak them
into training. The file records that split (``synthetic_seed``, ``synthetic_test_size``,
``synthetic_source``) so that ``train --synthetic`` can warn when its own split differs.

The NPZ holds ``X`` (n, d) in the data set's own units (images as (n, C, H, W)), ``y`` (n,)
class indices, ``feature_names`` and ``target_names`` (class names: labels are matched by
name). Written atomically, after everything else succeeded.
"""

from __future__ import annotations

import io as _io
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import io
from ..checks import check_choice, check_fraction, check_int
from ..data import load_dataset, train_test_split
from ..errors import ConfigError, DeltapropError
from .model import ConditionalGAN

MODELS = ("auto", "mlp", "cnn")
#: The NPZ members that record where the synthetic rows came from.
PROVENANCE = ("synthetic_source", "synthetic_seed", "synthetic_test_size")


@dataclass
class SynthResult:
    """What :func:`synthesize` made: the rows ``X``, labels ``y`` (indices into
    ``target_names``), the fitted ``gan``, its ``history`` and ``verdict``, the training part's
    size, and the files written."""

    X: np.ndarray
    y: np.ndarray
    target_names: list[str]
    gan: ConditionalGAN
    history: Any
    verdict: Any
    n_train: int
    files: list[str] = field(default_factory=list)


def _check_outputs(out: str | None, save: str | None, plot: str | None, dataset: str) -> None:
    for name, path in (("out", out), ("save", save)):
        if path is not None:
            io.check_path(path, name, writable=True)
    if out and save and io.same_path(out, save):
        raise ConfigError(f"save: {save} is also the out file; expected another path")
    for name, path in (("out", out), ("save", save)):
        if path and os.path.isfile(dataset) and io.same_path(path, dataset):
            raise ConfigError(f"{name}: {path} is the data set, which would be overwritten")
    if plot is not None:
        from .plots import check_plot_folder

        check_plot_folder(plot, None, 1)


def synthesize(
    dataset: str,
    n: int = 2000,
    out: str | None = None,
    epochs: int = 300,
    seed: int = 0,
    test_size: float = 0.2,
    label: str | None = None,
    model: str = "auto",
    batch_size: int = 64,
    latent_dim: int = 32,
    lr: float = 2e-4,
    plot: str | None = None,
    plot_every: int | None = None,
    save: str | None = None,
    verbose: bool = False,
    log_every: int = 10,
) -> SynthResult:
    """Train a ConditionalGAN on ``dataset``'s training part and generate ``n`` rows, the
    classes in turn (as even as n allows); write them to ``out`` (NPZ) when given.

    ``model``: "cnn" (convolutional networks; images only), "mlp" (dense networks on the
    tabular encoding; images as rows of pixels) or "auto" (cnn for images). ``save`` keeps
    the GAN as a model file; ``plot`` gets its loss curves and sample grids.

    Raises ConfigError (options, outputs: checked before any work), DataError (the data set),
    TrainingError (NaN/inf in training: nothing is written).
    """
    n = check_int(n, "n")
    seed = check_int(seed, "seed", minimum=0)
    test_size = check_fraction(test_size, "test_size")
    model = check_choice(model, MODELS, "model")
    _check_outputs(out, save, plot, dataset)
    ds = load_dataset(dataset, label=label, seed=seed)
    if ds.task != "classification":
        raise ConfigError(f"dataset: {ds.name} is a regression data set; a conditional GAN "
                          "generates rows of given classes (classification data only)")  # fmt: skip
    images = ds.image_shape is not None and model != "mlp"
    if model == "cnn" and ds.image_shape is None:
        raise ConfigError(f"model: cnn needs image data; {ds.name} has rows of "
                          f"{ds.n_features} features (use mlp)")  # fmt: skip
    # the very split `deltaprop train --seed S --test-size T` makes (recipe/rundata.py)
    X_train, _, y_train, _ = train_test_split(ds.X, ds.y, test_size=test_size, stratify=True,
                                              seed=seed)  # fmt: skip
    gan = ConditionalGAN(kind="image" if images else "tabular", latent_dim=latent_dim, lr=lr,
                         image_shape=ds.image_shape if images else None)  # fmt: skip
    history = gan.fit(X_train, y_train, epochs=epochs, batch_size=batch_size, seed=seed,
                      verbose=verbose, log_every=log_every, plot=plot,
                      plot_every=plot_every)  # fmt: skip
    X, y = gan.sample(n, seed=seed)
    if images:
        X = X.reshape(n, *ds.image_shape)  # type: ignore[misc]
    names = list(ds.target_names or [str(c) for c in range(ds.n_classes or 0)])
    result = SynthResult(X, y.astype(np.int64), names, gan, history, gan.verdict, len(X_train))
    if out is not None:
        write_npz(out, result, ds.feature_names, ds.name, seed, test_size)
        result.files.append(out)
    if save is not None:
        try:
            gan.save(save)
        except DeltapropError as exc:
            raise type(exc)(f"save: {exc}") from None
        result.files.append(save)
    return result


def write_npz(
    path: str, result: SynthResult, feature_names: list[str], source: str, seed: int,
    test_size: float,
) -> None:  # fmt: skip
    """The NPZ ``deltaprop train --dataset`` reads, with the provenance members, atomically."""
    buf = _io.BytesIO()
    np.savez_compressed(
        buf, X=result.X.astype(np.float32), y=result.y, feature_names=np.asarray(feature_names),
        target_names=np.asarray(result.target_names), synthetic_source=np.asarray(str(source)),
        synthetic_seed=np.asarray(seed), synthetic_test_size=np.asarray(test_size),
    )  # fmt: skip
    try:
        io.atomic_write(path, buf.getvalue())
    except DeltapropError as exc:
        raise ConfigError(f"out: {exc}") from None
