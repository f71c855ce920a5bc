"""What both semi-supervised methods share: :class:`SemiSupervised`, a strategy that trains a
classifier's :class:`~deltaprop.Trainer` on labeled rows ``(X, y)`` and unlabeled rows ``U``.

The design: a method is a small object holding its options (threshold, ramp-up, ...), and
``method.fit(trainer, X, y, U, epochs=..., ...)`` trains the Trainer's own model with the
Trainer's own ``fit`` (so its loss, optimizer, schedule, callbacks, NaN guard, validation and
log lines all apply) and returns a History. This base class does what is the same for every
method, before any training: it checks the Trainer, the rows and ``fit``'s arguments, splits
the validation rows off the *labeled* rows (unlabeled rows have no labels to validate on), and
oversamples the labeled rows (:func:`oversample`), so that an epoch is one pass over as many
rows as the unlabeled part holds and the few labeled rows keep their weight beside thousands of
unlabeled ones. A subclass implements :meth:`SemiSupervised._train`.

Why an object beside the Trainer and not a ``Trainer.fit(..., unlabeled=)`` option: the two
methods change different things (self-training the rows between several fits, mean teacher
the step inside one), neither belongs on the Trainer's per-step path, and their options would
crowd ``fit``'s signature for every supervised run.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import backend
from ..data.checks import check_features
from ..errors import ConfigError, DataError
from ..train import Trainer
from ..train.callbacks import History
from ..train.validation import split_off

#: ``fit`` keywords passed on to :meth:`Trainer.fit` as they are.
PASSED = ("descent", "batch_size", "log_every", "shuffle", "verbose", "drop_last", "augment")
#: ``Trainer.fit`` keywords no semi-supervised fit takes: a training state file holds neither
#: the teacher nor the pseudo-label rounds, so resuming could not go on as the run would have.
REFUSED = ("checkpoint", "resume_from")


def oversample(X: Any, y: Any, rows: int) -> tuple[Any, Any]:
    """``(X, y)`` repeated whole, ``ceil(rows / len(X))`` times (at least once), so that every
    labeled row appears equally often among at least ``rows`` rows."""
    times = max(1, math.ceil(rows / X.shape[0]))
    if times == 1:
        return X, y
    xp = backend.xp_of(X)
    return xp.concatenate([X] * times), xp.concatenate([y] * times)


class SemiSupervised:
    """The shared part of :class:`~deltaprop.semi.SelfTraining` and
    :class:`~deltaprop.semi.MeanTeacher` (see the module docstring)."""

    #: The method's name in the recipe (``semi = "self-training"``).
    name = ""

    def fit(
        self,
        trainer: Trainer,
        X: Any,
        y: Any,
        unlabeled: Any,
        epochs: int = 1,
        seed: int | None = None,
        validation_data: tuple[Any, Any] | None = None,
        validation_split: float | None = None,
        **fit_kwargs: Any,
    ) -> History:
        """Train ``trainer.model`` on labeled ``(X, y)`` and ``unlabeled`` rows.

        Args:
            trainer: a classification Trainer with a cross-entropy loss (its model outputs
                one logit per class).
            X: (N, ...) labeled rows; y: (N,) their labels 0..C-1.
            unlabeled: (M, ...) rows without labels, of X's row shape (the same features).
            epochs: passes over the training rows per fit (see the method for how many fits);
                the labeled rows are oversampled to as many rows as ``unlabeled`` has.
            seed: seeds the row order and every draw of the method; None draws from
                deltaprop's generator, so ``dp.seed(n)`` makes the run repeatable bit for bit.
            validation_data: (X_val, y_val) labeled rows scored after every epoch; or
            validation_split: the fraction of the labeled rows held out for that (stratified,
                before the oversampling, so that no held-out row is trained on).
            **fit_kwargs: passed on to :meth:`Trainer.fit` (descent, batch_size, log_every,
                shuffle, verbose, drop_last, augment: the labeled batches' augmentation).

        Returns:
            the History of the training (per epoch, of all fits in order).

        Raises:
            ConfigError: a Trainer that is not a cross-entropy classifier; ``checkpoint`` or
                ``resume_from``, or another unknown keyword; a bad argument of ``fit``.
            DataError, ShapeError: bad rows; ``unlabeled`` empty or with another row shape
                than X. Everything is checked before the model is touched.
        """
        if not isinstance(trainer, Trainer):
            raise ConfigError(
                f"trainer: expected a deltaprop Trainer, got {type(trainer).__name__}"
            )
        if trainer._kind != "cross_entropy":  # noqa: SLF001 - semi is built on the Trainer
            raise ConfigError(
                f"trainer: {self.name} needs a classifier trained with cross-entropy (one "
                f"logit per class), got loss {type(trainer.loss).__name__} for {trainer.task}"
            )
        for key in fit_kwargs:
            if key in REFUSED:
                raise ConfigError(
                    f"{key}: {self.name} training cannot be checkpointed or resumed (a training "
                    "state holds neither the teacher nor the pseudo-label rounds)"
                )
            if key not in PASSED:
                allowed = ", ".join(("epochs", "seed", "validation_data", "validation_split",
                                     *PASSED))  # fmt: skip
                raise ConfigError(f"{key}: unknown argument of fit; expected one of {allowed}")
        X, y, n_out = trainer._prepare_with_width(X, y, "X", "y")  # noqa: SLF001
        U = self._unlabeled(trainer, unlabeled, X)
        val = None
        if validation_data is not None and validation_split is not None:
            raise ConfigError(
                "validation_split: give validation_split or validation_data, not both"
            )
        if validation_data is not None:
            val = tuple(validation_data)
        elif validation_split is not None:
            X, y, val = split_off(X, y, validation_split, "classification")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ConfigError(f"seed: expected an integer >= 0, got {seed!r}")
        self._check(X, n_out, fit_kwargs)
        fit_kwargs = {"epochs": epochs, "seed": seed, "validation_data": val, **fit_kwargs}
        return self._train(trainer, X, y, U, n_out, fit_kwargs)

    def _unlabeled(self, trainer: Trainer, unlabeled: Any, X: Any) -> Any:
        """The unlabeled rows checked (finite numbers, X's row shape) in the model's dtype and
        on its device."""
        if unlabeled is None:
            raise DataError("unlabeled: expected the unlabeled rows (M, ...), got None")
        U = check_features(unlabeled, "unlabeled", allow_nd=True)
        if U.shape[0] == 0:
            raise DataError("unlabeled: expected at least one row, got none")
        if tuple(U.shape[1:]) != tuple(X.shape[1:]):
            what = "features" if X.ndim == 2 else "values per row, shaped"
            want = X.shape[1] if X.ndim == 2 else tuple(X.shape[1:])
            got = U.shape[1] if U.ndim == 2 else tuple(U.shape[1:])
            raise DataError(f"unlabeled: expected rows of {want} {what} as X has, got {got}")
        return backend.xp_of(X).asarray(np.ascontiguousarray(U, dtype=X.dtype))

    def _check(self, X: Any, n_out: int, fit_kwargs: dict[str, Any]) -> None:
        """A method's own checks of the data and ``fit``'s keywords (before any training)."""

    def _train(
        self, trainer: Trainer, X: Any, y: Any, U: Any, n_out: int, fit_kwargs: dict[str, Any]
    ) -> History:
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        """The method's options, as given (its repr shows them)."""
        return {}

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({inner})"
