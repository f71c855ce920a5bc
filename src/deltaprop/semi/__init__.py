"""Semi-supervised training: learning from a few labeled rows and many unlabeled ones.

Two methods with one interface (:class:`SemiSupervised`): ``method.fit(trainer, X, y,
unlabeled, epochs=..., ...)`` trains a classifier's Trainer on labeled ``(X, y)`` and the
``unlabeled`` rows, and returns the History.

- :class:`SelfTraining`: pseudo-labels the unlabeled rows the model is confident of
  (``threshold``), more in every round (``rounds``), and trains on them.
- :class:`MeanTeacher`: a consistency loss between the model and the moving average of its
  weights on augmented unlabeled rows, its weight ramped up.

>>> import deltaprop as dp
>>> from deltaprop import semi
>>> semi.MeanTeacher(weight=5.0, ema_decay=0.99)
MeanTeacher(weight=5.0, ramp_up=5, ema_decay=0.99, augment='noise')

The run recipe's ``semi`` key names them (``deltaprop train --labels-per-class 5 --semi
mean-teacher``; :mod:`.recipe_fit`).
"""

from . import recipe_fit  # noqa: F401  (gives the recipe's runner its semi methods)
from .base import SemiSupervised, oversample
from .mean_teacher import MeanTeacher, consistency_loss, ramp_up
from .self_training import SelfTraining, select_pseudo_labels

#: name -> the method, as the recipe's ``semi`` key names it.
METHODS: dict[str, type[SemiSupervised]] = {
    SelfTraining.name: SelfTraining,
    MeanTeacher.name: MeanTeacher,
}

__all__ = [
    "METHODS",
    "MeanTeacher",
    "SelfTraining",
    "SemiSupervised",
    "consistency_loss",
    "oversample",
    "ramp_up",
    "select_pseudo_labels",
]
