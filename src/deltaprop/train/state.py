"""Training state: the full state of a ``fit`` in one file, written after every epoch, so a
stopped or killed run resumes bit for bit (``fit(checkpoint=PATH)`` / ``fit(resume_from=PATH)``).

``fit(..., checkpoint=PATH)`` calls :meth:`Writer.write` at the end of every epoch;
``fit(..., resume_from=PATH)`` reads the file (:func:`read`), checks that it fits the Trainer
and the call (:meth:`TrainingState.check`), both before anything is touched, then puts every
piece back (:meth:`TrainingState.restore`), so the resumed run goes on as if it had never
stopped. What the state holds, and the comparison: :mod:`.state_snapshot`; the container and
the codec: :mod:`deltaprop.io`.

The file is one safetensors file (no pickle). Its tensors::

    model/<name>                 the model's state_dict(): parameters and buffers
    optimizer/..., callbacks/<i>/..., rng/..., ...
                                 every array found in the other states (moments, best weights)

and its string metadata::

    format          "deltaprop-checkpoint"
    version         "1"
    state           JSON, everything else (below); an array appears as {"__array__": name}
    checksum        "sha256/file:..." over the whole file (0.1.0: "sha256:...", the tensors)
    state_checksum  "sha256:..." over the state JSON

The state JSON: ``epoch`` (epochs completed), ``epochs`` (the total asked for), ``step``
(optimizer steps taken), ``stopped`` and ``stop_reason`` (a callback ended training),
``fit`` (descent, batch_size, n_samples, n_val, shuffle, seed, drop_last; a file without
drop_last, from before it was recorded, resumes as drop_last=False), ``trainer`` (loss class,
clipping, penalties), ``model`` (architecture), ``optimizer`` / ``scheduler`` (class and
``state_dict()``), ``callbacks`` (class and ``state_dict()`` of each, null for stateless ones),
``rng`` (``bit_generator.state`` of deltaprop's generator, which dropout draws from, and of
the generator that shuffles the rows, or ``"library"`` when that is the same one), ``history``
(per-epoch lists) and ``logs`` (the last epoch's), values tagged by :mod:`deltaprop.io.codec`.

Writes are atomic (:func:`deltaprop.io.atomic_write`): a crash during a write leaves the
previous file whole.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend, io
from ..errors import ConfigError, ModelFileError, ShapeError
from .state_snapshot import (
    STATE_KEYS,
    check_trainer,
    fit_settings,
    is_stateful,
    mismatches,
    snapshot,
)

FORMAT = "deltaprop-checkpoint"
VERSION = "1"

__all__ = [
    "FORMAT",
    "VERSION",
    "TrainingState",
    "Writer",
    "check_path",
    "check_trainer",
    "fit_settings",
    "read",
    "same_path",
    "snapshot",
]

same_path = io.same_path


def check_path(path: Any, name: str) -> str:
    """``path`` as a str; ConfigError (before training) when it is a folder or its folder is
    missing, or, for the file to write (``name == "checkpoint"``), not writable."""
    return io.check_path(path, name, writable=name == "checkpoint")


# --- writing ----------------------------------------------------------------------------------


class Writer:
    """Writes the training state to ``path`` at the end of every epoch (atomically); removes
    the temporaries an earlier, killed process left for ``path``."""

    def __init__(self, path: str, settings: dict[str, Any]) -> None:
        self.path = path
        self.settings = settings
        io.remove_stale_temporaries(path)

    def write(self, trainer: Any, epoch: int, epochs: int, history: Any, rng: Any, logs) -> None:
        """Save the state after epoch ``epoch`` (from 0) of ``epochs``."""
        tensors, state = snapshot(trainer, epoch, epochs, history, rng, logs, self.settings)
        text = io.to_json(state)
        header = {
            "format": FORMAT,
            "version": VERSION,
            "state": text,
            "state_checksum": io.checksum(text),
        }
        io.write_tensor_file(self.path, tensors, header)


# --- reading ----------------------------------------------------------------------------------


class TrainingState:
    """A training state read back: :meth:`check` it against a Trainer, then :meth:`restore`."""

    def __init__(self, path: str, state: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        self.path = path
        self.state = state
        self.tensors = tensors
        self.epoch = int(state["epoch"])
        self.stopped = bool(state["stopped"])
        self.stop_reason = state["stop_reason"]
        self.model = {k[6:]: v for k, v in tensors.items() if k.startswith("model/")}
        self.logs: dict[str, Any] | None = None  # set by restore()

    def decode(self, value: Any, what: str) -> Any:
        """``value`` (a part of :attr:`state`) decoded; ModelFileError naming ``what``."""
        try:
            return io.decode(value, self.tensors)
        except (ValueError, TypeError, KeyError) as e:
            raise ModelFileError(f"{self.path}: corrupt checkpoint: {what}: {e}") from e

    def check(self, trainer: Any, settings: dict[str, Any]) -> None:
        """ModelFileError naming every difference between the file and this Trainer / call
        (``settings`` from :func:`fit_settings`); touches nothing."""
        saved_trainer = self.decode(self.state["trainer"], "trainer")
        diffs = mismatches(self.state, saved_trainer, self.model, trainer, settings)
        if diffs:
            raise ModelFileError(
                f"{self.path}: the checkpoint does not match this training run: " + "; ".join(diffs)
            )

    def restore(self, trainer: Any, history: Any, rng: np.random.Generator):
        """Put everything back into ``trainer``, ``history`` and the generators; returns the
        generator that shuffles the rows. On failure the model and optimizer are rolled back."""
        s = self.state
        model, optimizer = trainer.model, trainer.optimizer
        # decode everything first: a corrupt part fails before anything is touched
        opt_state = self.decode(s["optimizer"]["state"], "optimizer")
        sched_state = None
        if s["scheduler"] is not None:
            sched_state = self.decode(s["scheduler"]["state"], "scheduler")
        cb_states = [
            self.decode(c["state"], f"callbacks[{i}]") for i, c in enumerate(s["callbacks"])
        ]
        library_state = self.decode(s["rng"]["library"], "rng")
        shuffle_state = s["rng"]["shuffle"]
        if shuffle_state != "library":
            shuffle_state = self.decode(shuffle_state, "rng")
        hist = self.decode(s["history"]["history"], "history")
        logs = self.decode(s["logs"], "logs")
        model_before = model.state_dict()
        optimizer_before = optimizer.state_dict()
        try:
            optimizer.load_state_dict(opt_state)
            model.load_state_dict(self.model, strict=True)
            if trainer.scheduler is not None:
                trainer.scheduler.load_state_dict(sched_state)
            for cb, cb_state in zip(trainer.callbacks, cb_states, strict=True):
                if cb_state is not None and is_stateful(cb):
                    cb.load_state_dict(cb_state)
            library = backend.rng()
            new_library = _restore_generator(library, library_state)
            if new_library is not library:
                backend.set_rng(new_library)
            if shuffle_state == "library":
                rng = new_library
            else:
                rng = _restore_generator(rng, shuffle_state)
        except (ConfigError, ShapeError, KeyError, TypeError, ValueError) as e:
            model.load_state_dict(model_before)
            optimizer.load_state_dict(optimizer_before)
            raise ModelFileError(f"{self.path}: cannot restore the training state: {e}") from e
        history.epoch = [int(e) for e in s["history"]["epoch"]]
        history.history = {k: list(v) for k, v in hist.items()}
        trainer.stop_training = self.stopped
        trainer.stop_reason = self.stop_reason
        self.logs = logs
        return rng


def _restore_generator(gen: np.random.Generator, state: dict[str, Any]) -> np.random.Generator:
    """``gen`` with ``state`` set (in place when the bit generator is of the same kind)."""
    kind = state["bit_generator"]
    if type(gen.bit_generator).__name__ != kind:
        cls = getattr(np.random, kind, None)
        if not isinstance(cls, type) or not issubclass(cls, np.random.BitGenerator):
            raise ValueError(f"unknown bit generator {kind!r}")
        gen = np.random.Generator(cls())
    gen.bit_generator.state = state
    return gen


def read(path: str) -> TrainingState:
    """Read and verify a training state written by ``fit(checkpoint=...)``.

    Raises:
        ModelFileError: missing, truncated, corrupt (either checksum), a deltaprop model file
            or another safetensors file, or a format version this deltaprop cannot read.
    """
    p, meta, tensors = io.read_tensor_file(path)
    fmt = meta.get("format")
    if fmt == io.FORMAT:
        raise ModelFileError(
            f"{p}: a deltaprop model file (written by dp.save), not a training checkpoint; "
            "resume_from needs a file written by fit(checkpoint=...)"
        )
    if fmt != FORMAT:
        raise ModelFileError(
            f"{p}: not a deltaprop training checkpoint (a safetensors file without its metadata)"
        )
    if meta.get("version") != VERSION:
        raise ModelFileError(
            f"{p}: checkpoint format version {meta.get('version')!r} is not supported; this "
            f"deltaprop reads version {VERSION!r}"
        )
    text = meta.get("state", "")
    if "checksum" not in meta or meta.get("state_checksum") != io.checksum(text):
        raise ModelFileError(f"{p}: corrupt checkpoint: the state does not match its checksum")
    try:
        state = io.parse_json(text, "the state")  # bounded: depth and size checked first
        missing = [k for k in STATE_KEYS if k not in state]
        if missing:
            raise ValueError(f"the state lacks {missing}")
        return TrainingState(p, state, tensors)
    except (ModelFileError, ValueError, KeyError, TypeError) as e:
        raise ModelFileError(f"{p}: corrupt checkpoint: {e}") from e
