"""Training state: the full state of a ``fit`` in one file, written after every epoch, so a
stopped or killed run resumes bit for bit (``fit(checkpoint=PATH)`` / ``fit(resume_from=PATH)``).

``fit(..., checkpoint=PATH)`` calls :meth:`Writer.write` at the end of every epoch;
``fit(..., resume_from=PATH)`` reads the file (:func:`read`), checks that it fits the Trainer
and the call (:meth:`TrainingState.check`), both before anything is touched, then puts every
piece back (:meth:`TrainingState.restore`), so the resumed run goes on as if it had never
stopped. What the state holds, and the comparison: :mod:`.state_snapshot`; what each field
of a state read back must be (a hand-edited file is refused naming the field):
:mod:`.state_schema`; the container and the codec: :mod:`deltaprop.io`.

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
``fit`` (descent, batch_size, n_samples, n_val, shuffle, seed, drop_last, augment; a file
without drop_last or augment, from before they were recorded, resumes as drop_last=False
and without augmentation), ``trainer`` (loss class,
clipping, penalties), ``model`` (architecture), ``optimizer`` / ``scheduler`` (class and
``state_dict()``), ``callbacks`` (class and ``state_dict()`` of each, null for stateless ones),
``rng`` (``bit_generator.state`` of deltaprop's generator, which dropout draws from, and of
the generator that shuffles the rows, or ``"library"`` when that is the same one, and, with
augmentation only, ``augment``: the augmentation's generator), ``history``
(per-epoch lists) and ``logs`` (the last epoch's), values tagged by :mod:`deltaprop.io.codec`.

Writes are atomic (:func:`deltaprop.io.atomic_write`): a crash during a write leaves the
previous file whole.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .. import backend, io, report
from ..errors import ConfigError, ModelFileError, ShapeError
from . import state_schema
from .finite import listed, non_finite
from .state_snapshot import (
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
    the temporaries an earlier, killed process left for ``path``.

    A state whose model (parameters, buffers) or optimizer state holds NaN/Inf is never
    written: the write is skipped with a warning naming the tensor, and the file keeps the
    last good epoch's state. ``fit``'s NaN guard runs before the Writer every epoch and rolls
    such a state back, so this only catches a callback that changed the model afterwards."""

    def __init__(self, path: str, settings: dict[str, Any]) -> None:
        self.path = path
        self.settings = settings
        self.written: int | None = None  # the last epoch written (from 0), for the warning
        io.remove_stale_temporaries(path)

    def write(
        self,
        trainer: Any,
        epoch: int,
        epochs: int,
        history: Any,
        rng: Any,
        logs,
        augment_rng: Any = None,
    ) -> None:
        """Save the state after epoch ``epoch`` (from 0) of ``epochs``, unless it is not
        finite (then: a warning, and the file is left as it was). ``augment_rng``: the
        augmentation's generator, None without augmentation."""
        found = non_finite(trainer.model, trainer.optimizer)
        if found:
            if self.written is not None:
                kept = f"keeps the state after epoch {self.written + 1}"
            else:
                kept = "keeps the state it held" if os.path.exists(self.path) else "was not written"
            report.warn(
                f"checkpoint: the state after epoch {epoch + 1} was not saved: "
                f"{listed(found)} is NaN/Inf; {self.path} {kept}"
            )
            return
        tensors, state = snapshot(
            trainer, epoch, epochs, history, rng, logs, self.settings, augment_rng
        )
        text = io.to_json(state)
        header = {
            "format": FORMAT,
            "version": VERSION,
            "state": text,
            "state_checksum": io.checksum(text),
        }
        io.write_tensor_file(self.path, tensors, header)
        self.written = epoch


# --- reading ----------------------------------------------------------------------------------


class TrainingState:
    """A training state read back and validated (:mod:`.state_schema`): :meth:`check` it
    against a Trainer, then :meth:`restore`.

    Raises:
        ModelFileError: ``"<path>: corrupt checkpoint: <field>: expected ..., got ..."`` for a
            state that is not what the writer writes (a hand-edited one, say).
    """

    def __init__(self, path: str, state: Any, tensors: dict[str, np.ndarray]) -> None:
        try:
            decoded = state_schema.validate(state, tensors)
        except state_schema.Invalid as e:
            raise ModelFileError(f"{path}: corrupt checkpoint: {e}") from None
        self.path = path
        self.state = state  # as written; ``decoded`` holds its encoded parts decoded
        self.decoded = decoded
        self.tensors = tensors
        self.epoch: int = state["epoch"]
        self.stopped: bool = state["stopped"]
        self.stop_reason: str | None = state["stop_reason"]
        self.model = {k[6:]: v for k, v in tensors.items() if k.startswith("model/")}
        self.logs: dict[str, Any] | None = None  # set by restore()

    def check(self, trainer: Any, settings: dict[str, Any]) -> None:
        """ModelFileError naming every difference between the file and this Trainer / call
        (``settings`` from :func:`fit_settings`); touches nothing."""
        saved_trainer = self.decoded["trainer"]
        diffs = mismatches(self.state, saved_trainer, self.model, trainer, settings)
        if diffs:
            raise ModelFileError(
                f"{self.path}: the checkpoint does not match this training run: " + "; ".join(diffs)
            )
        for i, (cb, entry) in enumerate(zip(trainer.callbacks, self.decoded["callbacks"])):
            # the writer saves the state of every callback with state_dict(), and only theirs
            if is_stateful(cb) != (entry["state"] is not None):
                expected = f"the state of {entry['class']}" if is_stateful(cb) else "null"
                raise ModelFileError(
                    f"{self.path}: corrupt checkpoint: state.callbacks[{i}].state: expected "
                    f"{expected}, got {'null' if entry['state'] is None else 'a state'}"
                )

    def restore(self, trainer: Any, history: Any, rng: np.random.Generator):
        """Put everything back into ``trainer``, ``history`` and the generators; returns the
        generator that shuffles the rows. A part that refuses its state (its own
        ``load_state_dict`` checks it) is a ModelFileError naming the field, and every part
        loaded before it is rolled back, so nothing is left half-restored."""
        d = self.decoded
        model, optimizer, scheduler = trainer.model, trainer.optimizer, trainer.scheduler
        stateful = [
            (i, cb, entry["state"])
            for i, (cb, entry) in enumerate(zip(trainer.callbacks, d["callbacks"], strict=True))
            if entry["state"] is not None and is_stateful(cb)
        ]
        model_before = model.state_dict()
        optimizer_before = optimizer.state_dict()
        scheduler_before = None if scheduler is None else scheduler.state_dict()
        # load_state_dict sets attributes: a shallow copy of each callback's puts it back
        callbacks_before = [dict(vars(cb)) for _, cb, _ in stateful]
        field = "state.model"
        try:
            model.load_state_dict(self.model, strict=True)
            field = "state.optimizer.state"
            optimizer.load_state_dict(d["optimizer"]["state"])
            if scheduler is not None:
                field = "state.scheduler.state"
                scheduler.load_state_dict(d["scheduler"]["state"])
            for i, cb, cb_state in stateful:
                field = f"state.callbacks[{i}].state ({type(cb).__name__})"
                cb.load_state_dict(cb_state)
        except (ConfigError, ShapeError, LookupError, TypeError, ValueError, AttributeError) as e:
            model.load_state_dict(model_before)
            optimizer.load_state_dict(optimizer_before)
            if scheduler is not None:
                scheduler.load_state_dict(scheduler_before)
            for (_, cb, _), saved in zip(stateful, callbacks_before, strict=True):
                vars(cb).clear()
                vars(cb).update(saved)
            raise ModelFileError(f"{self.path}: corrupt checkpoint: {field}: {e}") from e
        # the generators' states were set on scratch generators when the file was read
        # (state_schema.generator): setting them cannot fail half-way
        library = backend.rng()
        new_library = _restore_generator(library, d["rng"]["library"])
        if new_library is not library:
            backend.set_rng(new_library)
        shuffle = d["rng"]["shuffle"]
        rng = new_library if shuffle == "library" else _restore_generator(rng, shuffle)
        history.epoch = list(d["history"]["epoch"])
        history.history = {k: list(v) for k, v in d["history"]["history"].items()}
        trainer.stop_training = self.stopped
        trainer.stop_reason = self.stop_reason
        self.logs = d["logs"]
        return rng

    def augment_generator(self, gen: np.random.Generator | None) -> np.random.Generator | None:
        """The augmentation's generator ``gen`` with the state the file holds for it (it holds
        one exactly when the run it comes from augmented: :meth:`check` compared the
        augmentation, and the schema ties the two); ``gen`` as it is otherwise."""
        saved = self.decoded["rng"].get("augment")
        if gen is None or saved is None:
            return gen
        return _restore_generator(gen, saved)


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
            or another safetensors file, a format version this deltaprop cannot read, or a
            state that is not what the writer writes (a hand-edited one: the field is named).
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
        # bounded: depth and size checked before parsing; NaN/Infinity are tagged by the writer
        state = io.parse_json(text, "the state", constants=False)
    except ModelFileError as e:
        raise ModelFileError(f"{p}: corrupt checkpoint: {e}") from e
    return TrainingState(p, state, tensors)
