"""Data augmentation inside ``fit`` (:class:`~deltaprop.data.augment.Augment`): fitted once on
the training rows, applied to every training batch with a generator of its own, and never to
validation data (nor in ``evaluate``/``predict``, which do not batch through here).

The generator is seeded from ``fit``'s ``seed`` (as ``(seed, AUGMENT_STREAM)``, a stream apart
from the one that shuffles the rows) or, without one, from deltaprop's generator, so
``dp.seed(n)`` makes augmented runs repeatable bit for bit too; checkpoints keep its state.

Cost: nothing without augmentation. The loop picks :func:`batches` instead of the plain
loader once per epoch, and only when ``augment`` was given; the step and its loss calls are
chosen once per ``fit`` (:func:`train_calls`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .. import backend
from ..autograd.tensor import Tensor
from ..data.augment import Augment, resolve
from ..errors import ConfigError
from ..nn.losses import CrossEntropyLoss
from ..ops.loss import SoftmaxCrossEntropy

__all__ = ["AUGMENT_STREAM", "batches", "fit_to", "generator", "resolve", "train_calls"]

#: The augmenter's generator is ``default_rng((seed, AUGMENT_STREAM))``: its own stream, not
#: the shuffling generator's (``default_rng(seed)``). The bytes spell "aug".
AUGMENT_STREAM = 0x617567


def fit_to(augment: Augment, X: Any, y: Any, kind: str, n_out: int) -> None:
    """Fit ``augment`` on the training rows (X, y as ``fit`` prepared them) for a loss of
    ``kind`` (:func:`~deltaprop.train.inference.loss_kind`) and ``n_out`` model outputs.

    Raises:
        ConfigError: mixup with a loss that cannot take probabilities (NLLLoss, or another
            loss on class labels); an image step on data without images; neighbours on
            regression targets.
    """
    if augment.relabels and kind in ("nll", "classification"):
        raise ConfigError(
            "augment: mixup turns class labels into probabilities, which this loss cannot "
            "take; use CrossEntropyLoss (or BCEWithLogitsLoss for one output)"
        )
    if kind == "regression":
        classes = None
    elif kind == "bce":  # targets (N, 1) of 0.0 / 1.0, mixed as numbers
        classes = backend.to_numpy(y).reshape(-1) > 0.5
    else:
        classes = y
    augment.fit(X, y, classes=classes, n_classes=n_out if kind == "cross_entropy" else None)


def generator(seed: int | None) -> np.random.Generator:
    """The augmenter's own generator for a ``fit`` with ``seed`` (None: seeded from
    deltaprop's generator, which ``dp.seed`` sets)."""
    if seed is None:
        return backend.spawn_rng()
    return np.random.default_rng((seed, AUGMENT_STREAM))


def batches(
    X: Any,
    y: Any,
    batch_size: int,
    shuffle: bool,
    rng: np.random.Generator,
    drop_last: bool,
    augment: Augment,
    augment_rng: np.random.Generator,
) -> Iterator[tuple[Any, Any]]:
    """One epoch of augmented batches, in the order :func:`deltaprop.data.loader.epoch_batches`
    gives without augmentation (the same draw from ``rng``), each with its rows' positions in
    X, which ``neighbours`` looks up."""
    n = X.shape[0]
    if shuffle:
        rows = rng.permutation(n)
        index = rows if backend.xp_of(X) is np else backend.xp_of(X).asarray(rows)
        X, y = X[index], y[index]
    else:
        rows = np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for i in range(0, stop, batch_size):
        j = i + batch_size
        yield augment(X[i:j], y[i:j], augment_rng, rows[i:j])


def train_calls(trainer: Any, augment: Augment | None) -> tuple[Callable, Callable | None]:
    """``(loss call, metric batch sum)`` for the training steps of a ``fit``: the Trainer's
    own, unless mixup gives a cross-entropy probabilities (N, C) instead of labels; then the
    probability form of the loss (PyTorch's CrossEntropyLoss with class-probability targets)
    and the metric against each row's most likely class (as Keras's categorical accuracy)."""
    loss_call, stat = trainer._loss_call, trainer._batch_stat
    if augment is None or not augment.relabels or trainer._kind != "cross_entropy":
        return loss_call, stat
    loss = trainer.loss
    if type(loss) is CrossEntropyLoss and loss.weight is None:
        apply, reduction = SoftmaxCrossEntropy.apply, loss.reduction

        def soft_loss(out, yb):
            return apply(out, Tensor._wrap(yb), reduction=reduction, sparse=False)

    else:  # a weighted or derived loss: through the module, which takes probabilities

        def soft_loss(out, yb):
            return loss(out, Tensor._wrap(yb))

    if stat is None:
        return soft_loss, None
    labels_stat = stat

    def soft_stat(out, yb):
        return labels_stat(out, yb.argmax(axis=1))

    return soft_loss, soft_stat
