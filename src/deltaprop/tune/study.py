"""``run_study``: check everything, load and split the data once, open (or resume) the
study, run the trials in this process or in ``workers`` processes, then write the reports.

Every check runs before the first trial (:mod:`.prepare`: names, the recipe's keys, the space
against the recipe, the output folder, the data; then the storage). The test part is split
off by ``load_data`` (seeded by the recipe) and only the final retrain (:mod:`.report`)
evaluates on it. Running again with the same ``out`` (and ``storage``) resumes: trials a
stopped worker left RUNNING are failed and queued again (:func:`~.storage.reap`), and the
study runs until ``trials`` trials count.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..recipe import Recipe, load_data
from . import interrupt
from . import report as files
from .objective import Objective, TrialFailed, metric_of
from .optuna_import import optuna_module
from .prepare import Job, prepare
from .progress import Progress
from .samplers import make_pruner, make_sampler
from .space import Space
from .storage import GRACE, HEARTBEAT, budget_used, open_storage, reap

Log = Callable[[str], None]
POLL_SECONDS = 0.3  # how often the parent reads the study while worker processes run


@dataclass
class StudyResult:
    """What :func:`run_study` did: the Optuna ``study``, the ``best`` trial's number, value
    and recipe (None before any trial completed), the files written in ``out``, and the
    metrics of the best configuration retrained and tested (``best_metrics.json``)."""

    study: Any
    out: str
    metric: str
    best_number: int | None = None
    best_value: float | None = None
    best_recipe: Recipe | None = None
    metrics: dict[str, Any] | None = None
    files: list[str] = field(default_factory=list)
    importances: dict[str, float] | None = None


def run_study(
    recipe: Recipe,
    space: Space | None = None,
    *,
    strategy: str = "bayes",
    trials: int | None = None,
    workers: int = 1,
    out: str = "study",
    storage: str | None = None,
    study_name: str = "deltaprop",
    pruner: str = "median",
    sampler: str = "tpe",
    study_seed: int | None = None,
    startup_trials: int | None = None,
    retrain: bool = True,
    log: Log | None = print,
    heartbeat: int = HEARTBEAT,
    grace: int = GRACE,
) -> StudyResult:
    """Search ``space`` (default: :func:`~.space.default_space`) around ``recipe``'s fixed
    keys; write trials.csv, best.toml, importances and plots, and the best configuration
    retrained on train+validation and tested once (best.safetensors, best_metrics.json).

    Args:
        strategy: ``"grid"``, ``"random"`` or ``"bayes"`` (``sampler="gp"`` for the
            Gaussian-process sampler instead of TPE).
        trials: how many trials the study holds when done (default: the grid's size for a
            grid, else 20); a resumed study runs the rest. With several workers a few more
            may start when the last ones finish together (at most ``workers - 1``).
        workers: processes sharing the study, each with one BLAS thread; 1 runs in this
            process (and the same ``study_seed`` then gives the same trials).
        out: the output folder (created); also holds the journal file of the default storage.
        storage: a database URL (``sqlite:///study.db``, ``postgresql://...``) instead.
        study_seed: seeds the sampler of a new study (default: the recipe's seed); worker i
            adds i. A resumed study, or one another command made, seeds from the system.
        startup_trials: random trials before a Bayesian sampler models the results.
        retrain: retrain the best configuration and test it (False: skip that step).
        log: where the per-trial lines and the summary go (None: silent).
        heartbeat, grace: a relational storage's heartbeat and stale limit, in seconds.

    Raises:
        ConfigError: before any trial, for any bad argument, space, output or storage.
        KeyboardInterrupt: after Ctrl-C, once trials.csv and best.toml are written.
    """
    optuna_module()  # the [tune] extra, checked first
    job, data = prepare(recipe, space, strategy, trials, workers, out, storage, study_name,
                         pruner, sampler, study_seed, startup_trials, heartbeat, grace)  # fmt: skip
    metric, direction = metric_of(data)
    study = _open(job, direction, study_seed=job.seed)
    reap(study)
    progress = Progress(job.target, metric, direction == "maximize", log)
    progress.seen.update(t.number for t in study.get_trials(deepcopy=False)
                         if t.state.is_finished())  # fmt: skip
    result = StudyResult(study, out, metric)
    try:
        objective = Objective(job.recipe, job.space, data)
        if workers > 1:  # this process is worker 0; the others are spawned
            _run_processes(job, workers, study, progress, objective)
            reap(study)  # a worker that died left its trial queued again: run what is left
        work(study, objective, job.target, progress)
    except KeyboardInterrupt:
        progress.close()
        reap(study)
        result.files = files.write_partial(study, result, log)
        raise
    progress.close()
    reap(study)
    files.write_all(study, result, job, retrain, log)
    return result


def work(
    study: Any,
    objective: Objective,
    target: int,
    progress: Progress | None = None,
    watch: Callable[[], None] | None = None,
) -> None:
    """Run trials in this process until ``target`` trials count (or a grid is done), with
    one BLAS thread; Ctrl-C stops the trial that trains (:mod:`.interrupt`). ``watch`` is
    called after every trial (the parent looks after its worker processes there)."""
    from threadpoolctl import threadpool_limits

    def after_trial(study: Any, trial: Any) -> None:
        if watch is not None:
            watch()
        reap(study)  # a worker gone mid-trial (here or in another command): queue it again
        trials = study.get_trials(deepcopy=False)
        if budget_used(trials) >= target or interrupt.STATE.pending:
            study.stop()
        if progress is not None:
            progress.update(trials)

    if budget_used(study.get_trials(deepcopy=False)) >= target:
        return
    with threadpool_limits(limits=1), interrupt.held_interrupts():
        study.optimize(objective, catch=(TrialFailed,), callbacks=[after_trial])


def _open(job: Job, direction: str, study_seed: int | None, worker: int = 0) -> Any:
    """Create or load the study; a resumed one must be of the same recipe, space and
    strategy (else ConfigError).

    The sampler's seed: ``study_seed`` (+ the worker's index) in the command that created
    the study, so that one worker on a new study draws the same trials every time; a
    command that joins (or resumes) a study seeds from the system instead, so that two
    commands on one study (two machines) never draw the same sequence."""
    optuna = optuna_module()
    storage = open_storage(job.storage, job.out, job.heartbeat, job.grace)
    pruner = make_pruner(job.pruner, job.max_epochs)
    if not worker:
        try:  # the storage decides, atomically, which command creates the study
            optuna.create_study(storage=storage, study_name=job.name, direction=direction,
                                pruner=pruner)  # fmt: skip
            job.fresh = True
        except optuna.exceptions.DuplicatedStudyError:
            job.fresh = False
    seed = None if study_seed is None or not job.fresh else study_seed + worker
    study = optuna.load_study(
        storage=storage, study_name=job.name, pruner=pruner,
        sampler=make_sampler(job.strategy, job.sampler, job.space, seed, job.startup),
    )  # fmt: skip
    if study.direction.name.lower() != direction:
        raise ConfigError(
            f"out: study {job.name!r} is to {study.direction.name.lower()}, and this one "
            f"to {direction}; give another output folder or study name"
        )
    if worker:
        return study
    settings = {"recipe": job.recipe.to_dict(), "space": job.space.describe(),
                "strategy": job.strategy, "sampler": job.sampler}  # fmt: skip
    for key, value in settings.items():
        before = study.user_attrs.get(key)
        if before is None:
            study.set_user_attr(key, value)
        elif before != value:
            where = job.storage or os.path.join(job.out, "study.journal")
            raise ConfigError(
                f"out: {where} holds study {job.name!r} with another {key} "
                f"({_difference(before, value)}); resume it with the same settings, or give "
                "another output folder or study name"
            )
    return study


def _difference(before: Any, now: Any) -> str:
    if isinstance(before, dict) and isinstance(now, dict):
        keys = [k for k in dict.fromkeys([*before, *now]) if before.get(k) != now.get(k)]
        return "; ".join(f"{k}: {before.get(k)!r} then, {now.get(k)!r} now" for k in keys[:3])
    return f"{before!r} then, {now!r} now"


# --- worker processes ------------------------------------------------------------------------
def _run_processes(
    job: Job, workers: int, study: Any, progress: Progress, objective: Objective
) -> None:
    """``workers - 1`` spawned processes beside this one, which runs trials too (its data
    is loaded already) and prints what every worker finishes; it fails (and queues again)
    the trial of a worker that died. Ctrl-C here is passed on to them (each fails and
    queues again its running trial), then they are waited for."""
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=worker_main, args=(job, i), daemon=False)
             for i in range(workers - 1)]  # fmt: skip
    for p in procs:
        p.start()
    dead: set[int] = set()

    def watch() -> None:
        gone = {i for i, p in enumerate(procs) if p.exitcode not in (None, 0)}
        if gone - dead:  # fail its trial and queue it again while the others still run
            dead.update(gone)
            reap(study)

    try:
        work(study, objective, job.target, progress, watch)
        with interrupt.held_interrupts():  # never in the middle of a storage write
            _watch(procs, study, progress, watch)
    except KeyboardInterrupt:
        _stop(procs)
        raise
    lost = [p.exitcode for p in procs if p.exitcode not in (0, None)]
    if lost and progress.log is not None:
        progress._print(f"{len(lost)} worker(s) stopped early (exit codes {lost}); their "
                        "running trials are failed and queued again")  # fmt: skip


def _watch(procs: list[Any], study: Any, progress: Progress, watch: Callable[[], None]) -> None:
    """Until the workers are done: print what they finish; reap the trial of one that died."""
    while any(p.is_alive() for p in procs):
        interrupt.check()
        time.sleep(POLL_SECONDS)
        watch()
        progress.update(study.get_trials(deepcopy=False))
    progress.update(study.get_trials(deepcopy=False))


def _stop(procs: list[Any], wait: float = 20.0) -> None:
    for p in procs:
        if p.is_alive() and p.pid is not None:
            try:
                os.kill(p.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + wait
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():  # a worker that does not stop: end it (its trial is reaped)
            p.kill()
            p.join()


def worker_main(job: Job, index: int) -> None:
    """One worker process: open the study, load the data (the same seeded split), run
    trials until the study holds ``job.target``."""
    try:
        optuna_module()
        data = load_data(job.recipe)
        metric, direction = metric_of(data)
        study = _open(job, direction, job.seed, worker=index + 1)
        work(study, Objective(job.recipe, job.space, data), job.target)
    except KeyboardInterrupt:
        pass  # a running trial failed itself and was queued again: nothing more to say
