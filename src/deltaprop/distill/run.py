"""A distillation run from a recipe: :func:`distill_run` is :func:`deltaprop.run` with a
:class:`~deltaprop.distill.Distiller` in place of the Trainer (``deltaprop distill``).

The recipe describes the student as it describes any run (``dataset``, ``hidden``, ``epochs``,
``lr``, ``seed``, ``save``, ...); ``teacher`` names the teacher's model file, ``temperature``
and ``alpha`` weigh its soft targets. The data is split, scaled and scored exactly as
``deltaprop train`` does it, so the student's test accuracy compares with the teacher's own.
The teacher must take the data's features and give its classes: checked before the run's
header, with the student still untrained and nothing written.
"""

from __future__ import annotations

from typing import Any

from .. import io
from ..errors import ConfigError, DeltapropError
from ..nn import Module
from ..recipe import Recipe, RunResult, run
from ..recipe.build import build_model, trainer_options
from ..recipe.rundata import RunData
from ..recipe.transfer import prepare_model
from ..train import inputs
from .distiller import Distiller

#: A distillation run's temperature and alpha when the recipe gives none (Hinton et al. used
#: T in 2..20; 4 with an even split is the usual starting point).
DEFAULT_TEMPERATURE = 4.0
DEFAULT_ALPHA = 0.5


def load_teacher(recipe: Recipe) -> Module:
    """The teacher model from ``recipe.teacher`` (a deltaprop model file), in eval mode.

    Raises:
        ConfigError: no teacher given. ModelFileError: the file cannot be loaded (the message
            names the option).
    """
    key = recipe.show("teacher")
    if recipe.teacher is None:
        raise ConfigError(f"{key}: a distillation run needs the teacher's model file")
    try:
        return io.load(recipe.teacher)
    except DeltapropError as exc:
        raise type(exc)(f"{key}: {exc}") from None


def check_teacher(recipe: Recipe, teacher: Module, data: RunData) -> str:
    """ConfigError naming ``teacher`` unless it takes the data's rows and gives its classes;
    the header's words on the distillation otherwise."""
    key = recipe.show("teacher")
    if not data.classification:
        raise ConfigError(
            f"{key}: distillation needs a classification task (the teacher's class "
            "probabilities), got regression"
        )
    if recipe.class_weight is not None:  # the distillation loss has no class weights
        raise ConfigError(f"{recipe.show('class_weight')}: not used when distilling; drop it")
    try:
        _, width = inputs.prepare_X(teacher, data.X_train[:1], "X")
    except DeltapropError as exc:
        raise ConfigError(
            f"{key}: {recipe.teacher} does not take this data's rows: {exc}"
        ) from None
    if width != data.n_out:
        raise ConfigError(
            f"{key}: {recipe.teacher} gives {width} outputs, but {data.ds.name} has "
            f"{data.n_out} classes; expected a teacher trained on the same classes"
        )
    T, alpha = _settings(recipe)
    weights = f"{teacher.num_parameters():,} weights"
    return f"; teacher {recipe.teacher} ({weights}), T {T:g}, alpha {alpha:g}"


def check_settings(recipe: Recipe) -> None:
    """The recipe's keys a distillation run cannot honour, refused (a ConfigError naming the
    key) before anything is loaded or written: ``compile`` (the distillation loss cannot be
    recorded), ``augment`` with ``distributed`` or with ``semi`` mean-teacher (neither step
    shows the teacher each augmented batch)."""
    if recipe.compile:
        raise ConfigError(
            f"{recipe.show('compile')}: a distillation run trains on the distillation loss, "
            "which the compiled step cannot record; train without it"
        )
    if recipe.semi == "mean-teacher" and recipe.augment is not None:
        raise ConfigError(
            f"{recipe.show('augment')}: not with {recipe.show('semi')} mean-teacher when "
            "distilling (mean teacher's step replaces the one that shows the teacher each "
            "augmented batch); drop one of them"
        )
    if recipe.distributed and recipe.augment is not None:
        raise ConfigError(
            f"{recipe.show('augment')}: not with {recipe.show('distributed')} when distilling "
            "(the teacher must see every augmented batch, which the data-parallel step does "
            "not do); drop one of them"
        )


def _settings(recipe: Recipe) -> tuple[float, float]:
    T = DEFAULT_TEMPERATURE if recipe.temperature is None else recipe.temperature
    alpha = DEFAULT_ALPHA if recipe.alpha is None else recipe.alpha
    return T, alpha


def distill_run(recipe: Recipe, verbose: bool = True, log: Any = None) -> RunResult:
    """Train the recipe's network as a student of ``recipe.teacher``; write the recipe's
    outputs (``save``: the student). Returns :func:`deltaprop.run`'s :class:`RunResult`
    (``result.trainer`` is the Distiller, ``result.metrics`` the student's scores).

    Raises:
        ConfigError: no teacher, or one that does not fit the data, ``compile``, or
            ``augment`` with ``distributed`` (named; before training, nothing written);
            anything :func:`deltaprop.run` raises.
    """
    if not isinstance(recipe, Recipe):
        raise ConfigError(f"recipe: expected a Recipe, got {type(recipe).__name__}")
    check_settings(recipe)
    teacher = load_teacher(recipe)
    T, alpha = _settings(recipe)

    def build(recipe: Recipe, n_in: Any, n_out: int, task: str, log: Any = print,
              y_train: Any = None, tracking: bool = True) -> Distiller:  # fmt: skip
        model = build_model(recipe, n_in, n_out)
        prepare_model(recipe, model)  # init_from, freeze
        return Distiller(model, teacher, temperature=T, alpha=alpha, metrics=["accuracy"],
                         **trainer_options(recipe, model, log, tracking))  # fmt: skip

    return run(recipe, verbose, log, build=build,
               header=lambda data: check_teacher(recipe, teacher, data))  # fmt: skip


__all__ = ["DEFAULT_ALPHA", "DEFAULT_TEMPERATURE", "distill_run", "load_teacher"]
