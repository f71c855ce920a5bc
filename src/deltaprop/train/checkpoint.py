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
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from typing import Any

import numpy as np

from .. import backend
from ..errors import ConfigError, ModelFileError, ShapeError

FORMAT = "deltaprop-checkpoint"
VERSION = "1"

_STATE_KEYS = (
    "epoch", "epochs", "step", "stopped", "stop_reason", "fit", "trainer", "model", "optimizer",
    "scheduler", "callbacks", "rng", "history", "logs",
)  # fmt: skip
_TAGS = ("__array__", "__float__", "__tuple__", "__scalar__", "__items__")


# --- paths ------------------------------------------------------------------------------------


def check_path(path: Any, name: str) -> str:
    """``path`` as a str; ConfigError (before training) when its folder is missing or it is a
    folder itself."""
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise ConfigError(f"{name}: expected a file path, got {path!r}")
    p = os.fspath(path)
    if isinstance(p, bytes):
        raise ConfigError(f"{name}: expected a str path, got bytes {p!r}")
    if os.path.isdir(p):
        raise ConfigError(f"{name}: {p} is a folder; expected a file path")
    folder = os.path.dirname(os.path.abspath(p))
    if not os.path.isdir(folder):
        raise ConfigError(f"{name}: cannot write {p}: the folder {folder} does not exist")
    if name == "checkpoint" and not os.access(folder, os.W_OK):
        raise ConfigError(f"{name}: cannot write {p}: the folder {folder} is not writable")
    return p


def same_path(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and os.path.abspath(a) == os.path.abspath(b)


def remove_stale_temporaries(path: str) -> None:
    """Delete the temporary files that :func:`deltaprop.io.atomic_write` leaves behind for
    ``path`` when its process is killed mid-write (``.<name>.<12 hex>.tmp``)."""
    folder = os.path.dirname(os.path.abspath(path))
    pattern = re.compile(r"\." + re.escape(os.path.basename(path)) + r"\.[0-9a-f]{12}\.tmp\Z")
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for entry in names:
        if pattern.match(entry):
            try:
                os.unlink(os.path.join(folder, entry))
            except OSError:
                pass


# --- values <-> JSON + arrays -----------------------------------------------------------------


def _is_array(value: Any) -> bool:
    return (
        hasattr(value, "shape")
        and hasattr(value, "dtype")
        and hasattr(value, "__array__")
        and not isinstance(value, np.generic)
    ) or isinstance(value, np.ndarray)


def encode(value: Any, where: str, tensors: dict[str, np.ndarray]) -> Any:
    """``value`` as JSON-able data; arrays go into ``tensors`` (named after ``where``)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, float):  # np.float64 too: exact as a JSON number
        return float(value) if math.isfinite(value) else {"__float__": repr(float(value))}
    if isinstance(value, int):
        return int(value)
    if isinstance(value, np.generic):
        return {"__scalar__": value.dtype.name, "value": encode(value.item(), where, tensors)}
    if _is_array(value):
        name = where
        n = 1
        while name in tensors:
            n += 1
            name = f"{where}#{n}"
        array = np.asarray(backend.to_numpy(value))
        tensors[name] = np.ascontiguousarray(array).reshape(array.shape)
        return {"__array__": name}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, f"{where}/{i}", tensors) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [encode(v, f"{where}/{i}", tensors) for i, v in enumerate(value)]
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: encode(v, f"{where}/{k}", tensors) for k, v in value.items()}
        return {
            "__items__": [
                [encode(k, f"{where}/{i}k", tensors), encode(v, f"{where}/{i}", tensors)]
                for i, (k, v) in enumerate(value.items())
            ]
        }
    raise ConfigError(
        f"checkpoint: cannot save {where}: a {type(value).__name__} is neither an array nor a "
        "JSON value (numbers, strings, lists, dicts)"
    )


def decode(value: Any, tensors: dict[str, np.ndarray]) -> Any:
    """The inverse of :func:`encode`; ValueError for data it never writes."""
    if isinstance(value, list):
        return [decode(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    tags = [k for k in value if k in _TAGS]
    if not tags:
        return {k: decode(v, tensors) for k, v in value.items()}
    tag = tags[0]
    if tag == "__array__":
        name = value[tag]
        if name not in tensors:
            raise ValueError(f"the array {name!r} is not among the tensors")
        return tensors[name]
    if tag == "__float__":
        if value[tag] not in ("inf", "-inf", "nan"):
            raise ValueError(f"bad float {value[tag]!r}")
        return float(value[tag])
    if tag == "__tuple__":
        return tuple(decode(v, tensors) for v in value[tag])
    if tag == "__scalar__":
        return np.dtype(value[tag]).type(decode(value["value"], tensors))
    return {decode(k, tensors): decode(v, tensors) for k, v in value[tag]}


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _dumps(state: dict[str, Any]) -> str:
    return json.dumps(state, allow_nan=False, separators=(",", ":"))


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


def _isnan(value: Any) -> bool:
    return isinstance(value, float) and value != value


def _tree_diff(a: Any, b: Any, where: str) -> str | None:
    """The first place where two JSON trees differ, in words; None when they are equal."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if key not in a or key not in b:
                return f"{where}.{key}: {'absent' if key not in a else 'present'} in the file"
            found = _tree_diff(a[key], b[key], f"{where}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{where}: {len(a)} entries in the file, {len(b)} here"
        for i, (x, y) in enumerate(zip(a, b)):
            found = _tree_diff(x, y, f"{where}[{i}]")
            if found:
                return found
        return None
    if a != b:
        return f"{where}: {a!r} in the file, {b!r} here"
    return None


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
