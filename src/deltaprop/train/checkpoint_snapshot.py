"""What a training state contains, and writing it: the settings a resumed ``fit`` must repeat,
a snapshot of the Trainer, its optimizer, scheduler, callbacks and generators, and the
:class:`Writer` that saves it after every epoch. The file format is described in
:mod:`deltaprop.train.checkpoint`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from ..errors import ConfigError
from .checkpoint_codec import _dumps, _sha256, encode, remove_stale_temporaries

FORMAT = "deltaprop-checkpoint"
VERSION = "1"

_STATE_KEYS = (
    "epoch", "epochs", "step", "stopped", "stop_reason", "fit", "trainer", "model", "optimizer",
    "scheduler", "callbacks", "rng", "history", "logs",
)  # fmt: skip


# --- what a fit is made of --------------------------------------------------------------------


def fit_settings(descent, batch_size, n_samples, n_val, shuffle, seed) -> dict[str, Any]:
    """The arguments of ``fit`` that a resumed call must repeat to go on bit for bit."""
    return {
        "descent": descent,
        "batch_size": int(batch_size),
        "n_samples": int(n_samples),
        "n_val": None if n_val is None else int(n_val),
        "shuffle": bool(shuffle),
        "seed": seed,
    }


def _name(obj: Any) -> str | None:
    return None if obj is None else type(obj).__name__


def _trainer_settings(trainer: Any) -> dict[str, Any]:
    return {
        "loss": _name(trainer.loss),
        "task": trainer.task,
        "clip_norm": trainer.clip_norm,
        "clip_value": trainer.clip_value,
        "l1": trainer.l1,
        "l2": trainer.l2,
    }


def _stateful(obj: Any) -> bool:
    return callable(getattr(obj, "state_dict", None)) and callable(
        getattr(obj, "load_state_dict", None)
    )


def _optimizer_layout(optimizer: Any) -> list[list[list[int]]]:
    """Per group, the shape of each parameter."""
    return [[list(p.data.shape) for p in g["params"]] for g in optimizer.param_groups]


def check_trainer(trainer: Any) -> None:
    """ConfigError, before training, for a scheduler whose state cannot be saved."""
    scheduler = trainer.scheduler
    if scheduler is not None and not _stateful(scheduler):
        raise ConfigError(
            f"checkpoint: the scheduler {_name(scheduler)} has no state_dict() / "
            "load_state_dict(), so its state cannot be saved for resuming"
        )


# --- writing ----------------------------------------------------------------------------------


class Writer:
    """Writes the training state to ``path`` at the end of every epoch (atomically)."""

    def __init__(self, path: str, settings: dict[str, Any]) -> None:
        self.path = path
        self.settings = settings
        remove_stale_temporaries(path)

    def write(self, trainer: Any, epoch: int, epochs: int, history: Any, rng: Any, logs) -> None:
        """Save the state after epoch ``epoch`` (from 0) of ``epochs``."""
        import safetensors.numpy

        from .. import io

        blob_tensors, state = snapshot(trainer, epoch, epochs, history, rng, logs, self.settings)
        text = _dumps(state)
        header = {
            "format": FORMAT,
            "version": VERSION,
            "state": text,
            "checksum": io._checksum(blob_tensors),
            "state_checksum": _sha256(text.encode()),
        }
        io.atomic_write(self.path, safetensors.numpy.save(blob_tensors, metadata=header))


def snapshot(trainer, epoch, epochs, history, rng, logs, settings):
    """(tensors, state JSON) of everything a resumed ``fit`` needs."""
    from .. import io

    tensors: dict[str, np.ndarray] = {}
    for name, array in trainer.model.state_dict().items():
        tensors["model/" + name] = np.ascontiguousarray(array).reshape(array.shape)
    optimizer = trainer.optimizer
    scheduler = trainer.scheduler
    callbacks = []
    for i, cb in enumerate(trainer.callbacks):
        cb_state = encode(cb.state_dict(), f"callbacks/{i}", tensors) if _stateful(cb) else None
        callbacks.append({"class": _name(cb), "state": cb_state})
    library = backend.rng()
    steps = history.params.get("steps", 0)
    state = {
        "epoch": epoch + 1,
        "epochs": epochs,
        "step": (epoch + 1) * steps,
        "stopped": bool(trainer.stop_training),
        "stop_reason": trainer.stop_reason,
        "fit": settings,
        "trainer": encode(_trainer_settings(trainer), "trainer", tensors),
        "model": {"architecture": io.architecture(trainer.model)},
        "optimizer": {
            "class": _name(optimizer),
            "layout": _optimizer_layout(optimizer),
            "state": encode(optimizer.state_dict(), "optimizer", tensors),
        },
        "scheduler": None
        if scheduler is None
        else {
            "class": _name(scheduler),
            "interval": trainer.scheduler_interval,
            "state": encode(scheduler.state_dict(), "scheduler", tensors),
        },
        "callbacks": callbacks,
        "rng": {
            "library": encode(library.bit_generator.state, "rng/library", tensors),
            "shuffle": "library"
            if rng is library
            else encode(rng.bit_generator.state, "rng/shuffle", tensors),
        },
        "history": {
            "epoch": list(history.epoch),
            "history": encode(history.history, "history", tensors),
        },
        "logs": encode(dict(logs), "logs", tensors),
    }
    return tensors, state
