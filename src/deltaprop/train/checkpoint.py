"""Resumable training: the full state of a ``fit`` in one file, written after every epoch.

``Trainer.fit(..., checkpoint=PATH)`` calls :meth:`Writer.write` at the end of every epoch;
``fit(..., resume_from=PATH)`` reads the file (:func:`read`), checks that it fits the Trainer
and the call (:meth:`TrainingState.check`), both before anything is touched, then puts every
piece back (:meth:`TrainingState.restore`), so the resumed run goes on bit for bit as if it had
never stopped.

The file is one safetensors file (no pickle). Its tensors::

    model/<name>                 the model's state_dict(): parameters and buffers
    optimizer/..., callbacks/<i>/..., rng/..., ...
                                 every array found in the other states (moments, best weights)

and its string metadata::

    format          "deltaprop-checkpoint"
    version         "1"
    state           JSON, everything else (below); an array appears as {"__array__": name}
    checksum        "sha256:..." over the tensors (as in model files)
    state_checksum  "sha256:..." over the state JSON

The state JSON: ``epoch`` (epochs completed), ``epochs`` (the total asked for), ``step``
(optimizer steps taken), ``stopped`` and ``stop_reason`` (a callback ended training),
``fit`` (descent, batch_size, n_samples, n_val, shuffle, seed), ``trainer`` (loss class,
clipping, penalties), ``model`` (architecture), ``optimizer`` / ``scheduler`` (class and
``state_dict()``), ``callbacks`` (class and ``state_dict()`` of each, null for stateless ones),
``rng`` (``bit_generator.state`` of deltaprop's generator, which dropout draws from, and of
the generator that shuffles the rows, or ``"library"`` when that is the same one), ``history``
(per-epoch lists) and ``logs`` (the last epoch's). Values JSON cannot hold exactly are tagged:
``{"__float__": "inf"}``, ``{"__tuple__": [...]}``, ``{"__scalar__": dtype, "value": v}``,
``{"__items__": [[key, value], ...]}`` (a dict whose keys are not all strings).

Writes are atomic (:func:`deltaprop.io.atomic_write`): a crash during a write leaves the
previous checkpoint whole.

The pieces: :mod:`.checkpoint_codec` (values <-> JSON plus arrays, checksums, paths),
:mod:`.checkpoint_snapshot` (what a training state contains, and :class:`Writer`), and this
module (reading a checkpoint back: :func:`read`, :class:`TrainingState`), which re-exports the
public names of the other two.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .. import backend
from ..errors import ConfigError, ModelFileError, ShapeError
from .checkpoint_codec import (
    _isnan,
    _sha256,
    _tree_diff,
    check_path,
    decode,
    encode,
    remove_stale_temporaries,
    same_path,
)
from .checkpoint_snapshot import (
    _STATE_KEYS,
    FORMAT,
    VERSION,
    Writer,
    _name,
    _optimizer_layout,
    _stateful,
    _trainer_settings,
    check_trainer,
    fit_settings,
    snapshot,
)

__all__ = [
    "FORMAT",
    "VERSION",
    "TrainingState",
    "Writer",
    "check_path",
    "check_trainer",
    "decode",
    "encode",
    "fit_settings",
    "read",
    "remove_stale_temporaries",
    "same_path",
    "snapshot",
]


# --- reading ----------------------------------------------------------------------------------


class TrainingState:
    """A checkpoint read back: :meth:`check` it against a Trainer, then :meth:`restore` it."""

    def __init__(self, path: str, state: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        self.path = path
        self.state = state
        self.tensors = tensors
        self.epoch = int(state["epoch"])
        self.stopped = bool(state["stopped"])
        self.stop_reason = state["stop_reason"]
        self.model = {k[6:]: v for k, v in tensors.items() if k.startswith("model/")}

    def _decode(self, value: Any, what: str) -> Any:
        try:
            return decode(value, self.tensors)
        except (ValueError, TypeError, KeyError) as e:
            raise ModelFileError(f"{self.path}: corrupt checkpoint: {what}: {e}") from e

    # -- checking, before anything is touched --
    def check(self, trainer: Any, settings: dict[str, Any]) -> None:
        """ModelFileError naming every difference between the file and this Trainer / call."""
        from .. import io

        s = self.state
        diffs: list[str] = []
        for key, mine in settings.items():
            theirs = s["fit"].get(key)
            if theirs != mine:
                diffs.append(f"fit {key}: {theirs!r} in the file, {mine!r} here")
        saved_trainer = self._decode(s["trainer"], "trainer")
        for key, mine in _trainer_settings(trainer).items():
            theirs = saved_trainer.get(key)
            if theirs != mine and not (_isnan(theirs) and _isnan(mine)):
                diffs.append(f"Trainer {key}: {theirs!r} in the file, {mine!r} here")
        arch = json.loads(json.dumps(io.architecture(trainer.model)))
        where = _tree_diff(s["model"]["architecture"], arch, "model")
        if where:
            diffs.append(f"architecture: {where}")
        model_diffs = self._model_diffs(trainer.model)
        diffs += model_diffs
        optimizer = trainer.optimizer
        if s["optimizer"]["class"] != _name(optimizer):
            diffs.append(
                f"optimizer: {s['optimizer']['class']} in the file, {_name(optimizer)} here"
            )
        elif not model_diffs and s["optimizer"]["layout"] != _optimizer_layout(optimizer):
            diffs.append(
                f"optimizer parameters (shapes per group): {s['optimizer']['layout']} in the "
                f"file, {_optimizer_layout(optimizer)} here"
            )
        saved_sched = s["scheduler"]
        sched = trainer.scheduler
        if (saved_sched and saved_sched["class"]) != _name(sched):
            diffs.append(
                f"scheduler: {saved_sched and saved_sched['class']} in the file, "
                f"{_name(sched)} here"
            )
        elif sched is not None and saved_sched["interval"] != trainer.scheduler_interval:
            diffs.append(
                f"scheduler_interval: {saved_sched['interval']!r} in the file, "
                f"{trainer.scheduler_interval!r} here"
            )
        saved_cbs = [c["class"] for c in s["callbacks"]]
        mine_cbs = [_name(cb) for cb in trainer.callbacks]
        if saved_cbs != mine_cbs:
            diffs.append(f"callbacks: {saved_cbs} in the file, {mine_cbs} here")
        if diffs:
            raise ModelFileError(
                f"{self.path}: the checkpoint does not match this training run: " + "; ".join(diffs)
            )

    def _model_diffs(self, model: Any) -> list[str]:
        mine = {n: t.data for n, t in model.named_parameters()}
        mine.update({n: t.data for n, t in model.named_buffers()})
        saved = self.model
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

    # -- restoring, once checked --
    def restore(self, trainer: Any, history: Any, rng: np.random.Generator):
        """Put everything back into ``trainer``, ``history`` and the generators; returns the
        generator that shuffles the rows. On failure the model and optimizer are rolled back."""
        s = self.state
        model, optimizer = trainer.model, trainer.optimizer
        opt_state = self._decode(s["optimizer"]["state"], "optimizer")
        sched_state = None
        if s["scheduler"] is not None:
            sched_state = self._decode(s["scheduler"]["state"], "scheduler")
        cb_states = [
            self._decode(c["state"], f"callbacks[{i}]") for i, c in enumerate(s["callbacks"])
        ]
        library_state = self._decode(s["rng"]["library"], "rng")
        shuffle_state = s["rng"]["shuffle"]
        if shuffle_state != "library":
            shuffle_state = self._decode(shuffle_state, "rng")
        hist = self._decode(s["history"]["history"], "history")
        logs = self._decode(s["logs"], "logs")
        model_before = model.state_dict()
        optimizer_before = optimizer.state_dict()
        try:
            optimizer.load_state_dict(opt_state)
            model.load_state_dict(self.model, strict=True)
            if trainer.scheduler is not None:
                trainer.scheduler.load_state_dict(sched_state)
            for cb, cb_state in zip(trainer.callbacks, cb_states, strict=True):
                if cb_state is not None and _stateful(cb):
                    cb.load_state_dict(cb_state)
            library = backend.rng()
            new_library = _restore_generator(library, library_state)
            if new_library is not library:
                backend._RNG = new_library
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
    """Read and verify a checkpoint written by ``fit(checkpoint=...)``.

    Raises:
        ModelFileError: missing, truncated, corrupt (either checksum), a deltaprop model file
            or another safetensors file, or a checkpoint version this deltaprop cannot read.
    """
    from .. import io

    p, meta, tensors = io._read(path)
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
    if "checksum" not in meta or meta.get("state_checksum") != _sha256(text.encode()):
        raise ModelFileError(f"{p}: corrupt checkpoint: the state does not match its checksum")
    try:
        state = json.loads(text)
        missing = [k for k in _STATE_KEYS if k not in state]
        if missing:
            raise ValueError(f"the state lacks {missing}")
        return TrainingState(p, state, tensors)
    except (ValueError, KeyError, TypeError) as e:
        raise ModelFileError(f"{p}: corrupt checkpoint: {e}") from e
