"""Everything a study checks before its first trial, and the :class:`Job` it hands its worker
processes: the arguments, the recipe's keys a search cannot honour (:func:`check_keys`), the
space against the recipe, the output folder, the sampler and pruner, then the data (loaded
once, seeded by the recipe: the test part is split off here and never touched by a trial).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import backend
from ..checks import check_int, check_optional
from ..errors import ConfigError
from ..recipe import Recipe, flag, load_data
from . import report as files
from .samplers import check_strategy, make_pruner, make_sampler
from .space import Space, default_space
from .storage import GRACE, HEARTBEAT

#: Recipe keys a study refuses: it writes its own files into ``out``.
OUTPUT_KEYS = ("save", "metrics_out", "plot", "checkpoint", "resume")
DEFAULT_TRIALS = 20


@dataclass
class Job:
    """Everything a worker process needs (pickled to it)."""

    recipe: Recipe
    space: Space
    strategy: str
    sampler: str
    pruner: str
    max_epochs: int
    target: int
    out: str
    storage: str | None
    name: str
    seed: int | None
    startup: int | None
    heartbeat: int = HEARTBEAT
    grace: int = GRACE
    fresh: bool = True  # this command created the study (its workers seed from study_seed)


def prepare(recipe, space, strategy, trials, workers, out, storage, name, pruner, sampler,
            seed, startup, heartbeat, grace) -> tuple[Job, Any]:  # fmt: skip
    """Every check, then the data; a Job for the workers."""
    if not isinstance(recipe, Recipe):
        raise ConfigError(f"recipe: expected a Recipe, got {type(recipe).__name__}")
    strategy, sampler = check_strategy(strategy, sampler)
    workers = check_int(workers, "workers")
    trials = check_optional(check_int, trials, "trials")
    seed = recipe.seed if seed is None else check_int(seed, "study_seed", minimum=0)
    startup = check_optional(check_int, startup, "startup_trials", minimum=0)
    heartbeat, grace = check_int(heartbeat, "heartbeat"), check_int(grace, "grace")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"study_name: expected a non-empty name, got {name!r}")
    check_keys(recipe)
    if recipe.cv is None and not recipe.validation_split:
        raise ConfigError(
            f"{recipe.show('validation_split')}: a search scores trials on validation rows; "
            f"expected a fraction > 0, or {recipe.show('cv')} k for k-fold"
        )
    if space is None:
        space = default_space(recipe, strategy)
    elif not isinstance(space, Space):
        raise ConfigError(f"space: expected a Space, got {type(space).__name__}")
    space.check(recipe)
    if strategy == "grid":
        grid_size = space.grid_size()  # a continuous range is an error here
        trials = grid_size if trials is None else trials
    trials = DEFAULT_TRIALS if trials is None else trials
    files.check_out(out, storage is None)
    make_sampler(strategy, sampler, space, seed, startup)  # its errors (gp without torch) now
    epochs = space.params.get("epochs")
    max_epochs = max(epochs.endpoints()) if epochs is not None else recipe.epochs
    max_epochs *= recipe.cv or 1
    make_pruner(pruner, max_epochs)
    data = load_data(recipe)
    job = Job(recipe, space, strategy, sampler, pruner, max_epochs, trials, out, storage, name,
              seed, startup, heartbeat, grace)  # fmt: skip
    return job, data


def check_keys(recipe: Recipe) -> None:
    """The recipe's keys a search cannot honour, refused by name before anything runs: the
    outputs (a search writes its own files), ``semi`` (trials train supervised: their
    scores would not be of the method), ``distributed`` (trials run in worker processes,
    not over MPI ranks); ``device`` must be there (CuPy and a GPU for cuda)."""
    given = [recipe.show(k) for k in OUTPUT_KEYS if getattr(recipe, k)]
    if given:
        raise ConfigError(
            f"{given[0]}: a search writes its own files into its output folder (best model: "
            "best.safetensors); expected no " + ", ".join(recipe.show(k) for k in OUTPUT_KEYS)
        )
    if recipe.semi != "none":
        raise ConfigError(
            f"{recipe.show('semi')}: a search trains and scores its trials supervised, on the "
            f"labeled rows; expected none (search without it, then train the best settings "
            f"with {recipe.show('semi')} {recipe.semi})"
        )
    if recipe.distributed:
        raise ConfigError(
            f"{recipe.show('distributed')}: a search runs its trials in worker processes "
            f"({flag('workers')} N), not data-parallel over MPI ranks; drop it"
        )
    if recipe.device != "cpu":
        backend.device(recipe.device, option=recipe.show("device"))
