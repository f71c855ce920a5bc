"""The recipe's scarce-label keys: ``labels_per_class``, ``semi`` and the semi-supervised
methods' options (one block of :data:`~deltaprop.recipe.fields.FIELDS`), their checks and the
rules between them, and the table through which the runner reaches the methods.

The methods live in :mod:`deltaprop.semi`, a layer above the recipe (they are built on the
Trainer and read recipes), so the recipe cannot import them; :mod:`deltaprop.semi` puts its
fit function into :data:`SEMI_FITS` when it is imported, and ``import deltaprop`` imports it.

Rules between keys:

- ``semi`` other than none needs ``labels_per_class`` (the unlabeled rows come from it);
- each method's options only with that method (``semi_threshold`` with mean-teacher is an
  error rather than a key silently ignored);
- ``semi`` other than none not with ``checkpoint``, ``resume`` or ``cv`` (a training state
  holds neither the teacher nor the rounds; cross-validation would score supervised fits).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..checks import check_fraction, check_int, check_real
from ..data.augment import parse_names
from ..errors import ConfigError
from ..names import normalize

SEMI_METHODS = ("none", "self-training", "mean-teacher")
#: method -> its option keys.
METHOD_KEYS: dict[str, tuple[str, ...]] = {
    "self-training": ("semi_threshold", "semi_rounds"),
    "mean-teacher": ("semi_weight", "semi_ramp_up", "semi_ema_decay", "semi_augment"),
}
#: augmentations that need labels, which unlabeled rows do not have.
LABEL_AUGMENTATIONS = ("neighbours", "mixup")
#: Keys a semi-supervised run cannot go with.
NOT_WITH_SEMI = ("checkpoint", "resume", "cv")
#: Keys mean teacher cannot go with: its consistency term is added in the Trainer's
#: ``forward_loss``, which neither the compiled step nor the data-parallel one calls.
NOT_WITH_MEAN_TEACHER = {"compile": "compiled", "distributed": "data-parallel"}

#: ``semi`` method -> ``fit(recipe, trainer, data, fit_kwargs, verbose) -> History``, filled
#: by :mod:`deltaprop.semi` (see the module docstring).
SEMI_FITS: dict[str, Callable[..., Any]] = {}


def _method(value: Any, name: str) -> str:
    table = {normalize(n): n for n in SEMI_METHODS}
    if not isinstance(value, str) or normalize(value) not in table:
        raise ConfigError(f"{name}: expected one of {', '.join(SEMI_METHODS)}, got {value!r}")
    return table[normalize(value)]


def _semi_augment(value: Any, name: str) -> str | None:
    if value is None:
        return None
    names = parse_names(value, name)
    bad = [n for n in names if n in LABEL_AUGMENTATIONS]
    if bad:
        raise ConfigError(
            f"{name}: {', '.join(bad)} need{'s' if len(bad) == 1 else ''} labels, and the "
            "unlabeled rows have none; expected noise, or image steps (shift, rotate, cutout)"
        )
    if not names:
        raise ConfigError(f"{name}: expected at least one augmentation, got {value!r}")
    return ",".join(names)


def _optional(check: Callable[..., Any], **options: Any) -> Callable[[Any, str], Any]:
    return lambda v, n: None if v is None else check(v, n, **options)


#: key -> check(value, shown_name) -> the normalized value (merged into validate.CHECKS).
SCARCE_CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "labels_per_class": _optional(check_int),
    "semi": _method,
    "semi_threshold": _optional(check_fraction, closed_low=True),
    "semi_rounds": _optional(check_int),
    "semi_weight": _optional(check_real),
    "semi_ramp_up": _optional(check_int, minimum=0),
    "semi_ema_decay": _optional(check_fraction, closed_low=True),
    "semi_augment": _semi_augment,
}


def semi_rules(out: dict[str, Any], show: Callable[[str], str]) -> None:
    """The rules between the scarce-label keys and the others (see the module docstring)."""
    semi = out["semi"]
    if out["labels_per_class"] is not None and out.get("synthetic") is not None:
        # A synthetic file's rows carry labels of a GAN trained on the whole training part:
        # they would leak the labels that labels_per_class hides.
        raise ConfigError(
            f"{show('synthetic')}: not with {show('labels_per_class')} (the synthetic rows' "
            "labels come from a GAN trained on every labeled row of the training part); "
            "drop one of them"
        )
    for method, keys in METHOD_KEYS.items():
        for key in keys:
            if out[key] is not None and semi != method:
                raise ConfigError(
                    f"{show(key)}: an option of {show('semi')} {method}, got {show('semi')} {semi}"
                )
    if semi == "none":
        return
    if out["labels_per_class"] is None:
        raise ConfigError(
            f"{show('semi')} {semi}: trains on unlabeled rows; give {show('labels_per_class')} "
            "K to keep K labeled rows per class and leave the others unlabeled"
        )
    for key in NOT_WITH_SEMI:
        if out[key] is not None:
            raise ConfigError(
                f"{show(key)}: not with {show('semi')} {semi} (a training state holds neither "
                "the teacher nor the pseudo-label rounds, and cross-validation would score "
                "supervised fits); drop one of them"
            )
    for key, step in NOT_WITH_MEAN_TEACHER.items():
        if semi == "mean-teacher" and out[key]:
            raise ConfigError(
                f"{show(key)}: not with {show('semi')} {semi} (its consistency loss would be "
                f"left out: the {step} step does not run it); drop one of them"
            )
