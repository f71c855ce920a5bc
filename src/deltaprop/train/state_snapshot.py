"""What a training state holds: the settings a resumed ``fit`` must repeat, a snapshot of the
Trainer (model, optimizer, scheduler, callbacks, generators, history) as a JSON tree plus named
arrays, and the comparison of a saved snapshot with a Trainer, difference by difference.

The file around it (format, writing, reading, restoring): :mod:`deltaprop.train.state`.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .. import backend, io
from ..errors import ConfigError

# Settings recorded only since a later version, and the value a file without them was written
# with: such a file still resumes, as a run with that value.
FIT_DEFAULTS = {"drop_last": False, "augment": None}


# --- what a fit is made of --------------------------------------------------------------------


def fit_settings(
    descent: str,
    batch_size: int,
    n_samples: int,
    n_val: int | None,
    shuffle: bool,
    seed: int | None,
    drop_last: bool = False,
    augment: str | None = None,
) -> dict[str, Any]:
    """The arguments of ``fit`` that a resumed call must repeat to go on bit for bit
    (``augment``: the augmentation's :meth:`~deltaprop.data.augment.Augment.spec`, or None)."""
    return {
        "descent": descent,
        "batch_size": int(batch_size),
        "n_samples": int(n_samples),
        "n_val": None if n_val is None else int(n_val),
        "shuffle": bool(shuffle),
        "seed": seed,
        "drop_last": bool(drop_last),
        "augment": augment,
    }


def class_name(obj: Any) -> str | None:
    """The class name that identifies a part (optimizer, scheduler, callback); None for None."""
    return None if obj is None else type(obj).__name__


def trainer_settings(trainer: Any) -> dict[str, Any]:
    """The Trainer's own settings that a resumed run must share."""
    return {
        "loss": class_name(trainer.loss),
        "task": trainer.task,
        "clip_norm": trainer.clip_norm,
        "clip_value": trainer.clip_value,
        "l1": trainer.l1,
        "l2": trainer.l2,
    }


def is_stateful(obj: Any) -> bool:
    """Whether ``obj`` has ``state_dict()`` and ``load_state_dict()``."""
    return callable(getattr(obj, "state_dict", None)) and callable(
        getattr(obj, "load_state_dict", None)
    )


def optimizer_layout(optimizer: Any) -> list[list[list[int]]]:
    """Per parameter group, the shape of each parameter."""
    return [[list(p.data.shape) for p in g["params"]] for g in optimizer.param_groups]


def check_trainer(trainer: Any) -> None:
    """ConfigError, before training, for a scheduler whose state cannot be saved."""
    scheduler = trainer.scheduler
    if scheduler is not None and not is_stateful(scheduler):
        raise ConfigError(
            f"checkpoint: the scheduler {class_name(scheduler)} has no state_dict() / "
            "load_state_dict(), so its state cannot be saved for resuming"
        )


# --- taking a snapshot ------------------------------------------------------------------------


def snapshot(trainer, epoch, epochs, history, rng, logs, settings, augment_rng=None):
    """``(tensors, state)``: everything a resumed ``fit`` needs after epoch ``epoch`` (from 0) of
    ``epochs``; ``state`` is JSON-able (see :mod:`deltaprop.train.state` for its keys).
    ``augment_rng``: the augmentation's generator (None: no augmentation, no entry)."""
    try:
        return _snapshot(trainer, epoch, epochs, history, rng, logs, settings, augment_rng)
    except ConfigError as e:  # a value the codec cannot hold, named as fit's argument
        raise ConfigError(f"checkpoint: {e}") from None


def _snapshot(trainer, epoch, epochs, history, rng, logs, settings, augment_rng):
    tensors: dict[str, np.ndarray] = {}
    for name, array in trainer.model.state_dict().items():
        tensors["model/" + name] = array
    optimizer = trainer.optimizer
    scheduler = trainer.scheduler
    callbacks = []
    for i, cb in enumerate(trainer.callbacks):
        cb_state = None
        if is_stateful(cb):
            cb_state = io.encode(cb.state_dict(), f"callbacks/{i}", tensors)
        callbacks.append({"class": class_name(cb), "state": cb_state})
    library = backend.rng()
    steps = history.params.get("steps", 0)
    state = {
        "epoch": epoch + 1,
        "epochs": epochs,
        "step": (epoch + 1) * steps,
        "stopped": bool(trainer.stop_training),
        "stop_reason": trainer.stop_reason,
        "fit": settings,
        "trainer": io.encode(trainer_settings(trainer), "trainer", tensors),
        "model": {"architecture": io.architecture(trainer.model)},
        "optimizer": {
            "class": class_name(optimizer),
            "layout": optimizer_layout(optimizer),
            "state": io.encode(optimizer.state_dict(), "optimizer", tensors),
        },
        "scheduler": None
        if scheduler is None
        else {
            "class": class_name(scheduler),
            "interval": trainer.scheduler_interval,
            "state": io.encode(scheduler.state_dict(), "scheduler", tensors),
        },
        "callbacks": callbacks,
        "rng": {
            "library": io.encode(library.bit_generator.state, "rng/library", tensors),
            "shuffle": "library"
            if rng is library
            else io.encode(rng.bit_generator.state, "rng/shuffle", tensors),
        },
        "history": {
            "epoch": list(history.epoch),
            "history": io.encode(history.history, "history", tensors),
        },
        "logs": io.encode(dict(logs), "logs", tensors),
    }
    if augment_rng is not None:  # absent without augmentation: such files are as before
        state["rng"]["augment"] = io.encode(augment_rng.bit_generator.state, "rng/augment", tensors)
    return tensors, state


# --- comparing a snapshot with a Trainer ------------------------------------------------------


def _isnan(value: Any) -> bool:
    return isinstance(value, float) and value != value


def mismatches(
    state: dict[str, Any],
    saved_trainer: dict[str, Any],
    saved_model: dict[str, np.ndarray],
    trainer: Any,
    settings: dict[str, Any],
) -> list[str]:
    """Every difference between a saved state and this Trainer / ``fit`` call, in words
    ("<what>: <saved> in the file, <here> here"); empty when the run may resume.

    ``saved_trainer`` is the decoded ``state["trainer"]``, ``saved_model`` the model's tensors.
    """
    diffs: list[str] = []
    for key, mine in settings.items():
        theirs = state["fit"].get(key, FIT_DEFAULTS.get(key))
        if theirs != mine:
            diffs.append(f"fit {key}: {theirs!r} in the file, {mine!r} here")
    for key, mine in trainer_settings(trainer).items():
        theirs = saved_trainer.get(key)
        if theirs != mine and not (_isnan(theirs) and _isnan(mine)):
            diffs.append(f"Trainer {key}: {theirs!r} in the file, {mine!r} here")
    arch = json.loads(json.dumps(io.architecture(trainer.model)))
    where = io.tree_diff(state["model"]["architecture"], arch, "model")
    if where:
        diffs.append(f"architecture: {where}")
    model_diffs = _model_mismatches(saved_model, trainer.model)
    diffs += model_diffs
    optimizer = trainer.optimizer
    saved_opt = state["optimizer"]
    if saved_opt["class"] != class_name(optimizer):
        diffs.append(f"optimizer: {saved_opt['class']} in the file, {class_name(optimizer)} here")
    elif not model_diffs and saved_opt["layout"] != optimizer_layout(optimizer):
        diffs.append(
            f"optimizer parameters (shapes per group): {saved_opt['layout']} in the "
            f"file, {optimizer_layout(optimizer)} here"
        )
    saved_sched = state["scheduler"]
    sched = trainer.scheduler
    if (saved_sched and saved_sched["class"]) != class_name(sched):
        diffs.append(
            f"scheduler: {saved_sched and saved_sched['class']} in the file, "
            f"{class_name(sched)} here"
        )
    elif sched is not None and saved_sched["interval"] != trainer.scheduler_interval:
        diffs.append(
            f"scheduler_interval: {saved_sched['interval']!r} in the file, "
            f"{trainer.scheduler_interval!r} here"
        )
    saved_cbs = [c["class"] for c in state["callbacks"]]
    mine_cbs = [class_name(cb) for cb in trainer.callbacks]
    if saved_cbs != mine_cbs:
        diffs.append(f"callbacks: {saved_cbs} in the file, {mine_cbs} here")
    return diffs


def _model_mismatches(saved: dict[str, np.ndarray], model: Any) -> list[str]:
    mine = {n: t.data for n, t in model.named_parameters()}
    mine.update({n: t.data for n, t in model.named_buffers()})
    diffs = []
    missing = [k for k in mine if k not in saved]
    unexpected = [k for k in saved if k not in mine]
    if missing:
        diffs.append(f"model weights missing from the file: {missing}")
    if unexpected:
        diffs.append(f"model weights in the file that this model lacks: {unexpected}")
    for k, array in mine.items():
        if k in saved:
            theirs = saved[k]
            if tuple(theirs.shape) != tuple(array.shape):
                diffs.append(
                    f"model weight {k!r}: shape {tuple(theirs.shape)} in the file, "
                    f"{tuple(array.shape)} here"
                )
            elif np.dtype(theirs.dtype) != np.dtype(array.dtype):
                diffs.append(
                    f"model weight {k!r}: dtype {theirs.dtype} in the file, {array.dtype} here"
                )
    return diffs
