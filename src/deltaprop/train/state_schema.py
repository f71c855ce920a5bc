"""The shape of a training state, as one table: what each field of the state JSON must be, checked
when a file is read and before anything is touched.

The checksums guard against damage, not against an edit: a hand-edited state with recomputed
checksums reads as well as a written one. So that such a file ends in a ModelFileError naming
the field (``state.fit.batch_size: expected an integer >= 1, got '16'``), never in a TypeError
half-way through a restore, and never resumes from a value the writer cannot have written (an
epoch of -2), :func:`validate` checks, in this order:

1. :data:`STATE`, the table, over the JSON as written: every field's type and range, exact key
   sets. An encoded part (:mod:`deltaprop.io.codec`) is checked tag by tag, decoded, and the
   decoded value checked in turn (the trainer's settings, a generator's state, the history).
2. :data:`INVARIANTS`, what holds between fields: ``epoch <= epochs``, one history entry per
   epoch done, the last epoch's logs at the end of the history.

What only a part knows (an optimizer's moments, a schedule's counters, a callback's state) is
checked by the part's own ``load_state_dict`` at restore, which raises a ConfigError naming the
key. What must match this run (the architecture, the fit settings) is compared by
:func:`deltaprop.train.state_snapshot.mismatches`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .state_checks import (
    Check,
    Invalid,
    anything,
    array,
    boolean,
    depth,
    dict_of,
    encoded,
    fail,
    integer,
    list_of,
    literal,
    nullable,
    of_type,
    real,
    record,
    same,
    shown,
    string,
)

# Deeper than any state the writer writes (an architecture nests two levels per Sequential),
# and far below Python's recursion limit, which the codec's decode and tree_diff recurse under.
MAX_DEPTH = 100


def generator(value: Any, where: str, tensors: Mapping[str, np.ndarray]) -> Any:
    """A ``bit_generator.state`` of one of NumPy's bit generators (:data:`GENERATORS`), which
    NumPy also reads back unchanged. Its own setter is no check: it reduces a float counter to
    an int, accepts a has_uint32 of 5 and an MT19937 position past the key's end."""
    kind = value.get("bit_generator") if isinstance(value, dict) else None
    if not isinstance(kind, str) or kind not in GENERATORS:
        raise fail(f"{where}.bit_generator", f"one of {list(GENERATORS)}", kind)
    value = GENERATORS[kind](value, where, tensors)
    scratch = getattr(np.random, kind)()
    try:
        scratch.state = value
        unchanged = same(scratch.state, value)
    except (TypeError, ValueError, KeyError, OverflowError) as e:
        raise Invalid(f"{where}: not a state of {kind}: {e}") from None
    if not unchanged:
        raise Invalid(f"{where}: not a state of {kind} (NumPy reads it back otherwise)")
    return value


_U32, _U64, _U128 = (integer(0, 2**n - 1) for n in (32, 64, 128))
_CACHE = {"has_uint32": integer(0, 1), "uinteger": _U32}  # a half-used 64-bit draw
# the states of NumPy's bit generators, as ``bit_generator.state`` gives them
GENERATORS: dict[str, Check] = {
    "PCG64": record(
        {"bit_generator": string, "state": record({"state": _U128, "inc": _U128}), **_CACHE}
    ),
    "PCG64DXSM": record(
        {"bit_generator": string, "state": record({"state": _U128, "inc": _U128}), **_CACHE}
    ),
    "MT19937": record(
        {
            "bit_generator": string,
            "state": record({"key": array("uint32", (624,)), "pos": integer(0, 624)}),
        }
    ),
    "Philox": record(
        {
            "bit_generator": string,
            "state": record({"counter": array("uint64", (4,)), "key": array("uint64", (2,))}),
            "buffer": array("uint64", (4,)),
            "buffer_pos": integer(0, 4),
            **_CACHE,
        }
    ),
    "SFC64": record(
        {"bit_generator": string, "state": record({"state": array("uint64", (4,))}), **_CACHE}
    ),
}


# --- the table ----------------------------------------------------------------------------------

# Each part as ``snapshot`` writes it (deltaprop.train.state_snapshot); a file from before
# ``drop_last`` or ``augment`` was recorded lacks them (FIT_DEFAULTS), and ``rng.augment`` is
# there exactly when ``fit.augment`` is not null (a run with augmentation).
STATE: Check = record(
    {
        "epoch": integer(0),
        "epochs": integer(1),
        "step": integer(0),
        "stopped": boolean,
        "stop_reason": nullable(string),
        "fit": record(
            {
                "descent": string,
                "batch_size": integer(1),
                "n_samples": integer(1),
                "n_val": nullable(integer(0)),
                "shuffle": boolean,
                "seed": nullable(integer()),
            },
            optional={"drop_last": boolean, "augment": nullable(string)},
        ),
        "trainer": encoded(
            record(
                {
                    "loss": nullable(string),
                    "task": nullable(string),
                    "clip_norm": nullable(real(0)),
                    "clip_value": nullable(real(0)),
                    "l1": real(0),
                    "l2": real(0),
                }
            )
        ),
        "model": record({"architecture": of_type(dict, "a dict")}),
        "optimizer": record(
            {
                "class": string,
                "layout": list_of(list_of(list_of(integer(0)))),
                "state": encoded(anything),  # checked by the optimizer's load_state_dict
            }
        ),
        "scheduler": nullable(
            record(
                {
                    "class": string,
                    "interval": literal("epoch", "step"),
                    "state": encoded(anything),  # checked by the schedule's load_state_dict
                }
            )
        ),
        # null for a callback without state_dict(); else checked by its load_state_dict
        "callbacks": list_of(record({"class": string, "state": encoded(anything)})),
        "rng": record(
            {
                "library": encoded(generator),
                # "library": the rows were shuffled by the library's generator
                "shuffle": encoded(
                    lambda v, where, t: v if same(v, "library") else generator(v, where, t)
                ),
            },
            optional={"augment": encoded(generator)},
        ),
        "history": record(
            {
                "epoch": list_of(integer(0)),
                # what callbacks logged may be anything the codec holds
                "history": encoded(dict_of(list_of(anything))),
            }
        ),
        "logs": encoded(dict_of(anything)),
    }
)


# --- what holds between fields ------------------------------------------------------------------


def _epoch_within_epochs(s: dict[str, Any]) -> None:
    if s["epoch"] > s["epochs"]:
        raise Invalid(
            f"state.epoch: expected at most state.epochs ({s['epochs']}), got {s['epoch']}"
        )


def _a_reason_only_when_stopped(s: dict[str, Any]) -> None:
    # the loop clears the reason at the start of a fit; a callback sets it when it stops one
    if s["stop_reason"] is not None and not s["stopped"]:
        raise fail("state.stop_reason", "null (state.stopped is false)", s["stop_reason"])


def _augment_generator_with_augmentation(s: dict[str, Any]) -> None:
    augmented = s["fit"].get("augment") is not None
    if augmented != ("augment" in s["rng"]):
        if augmented:
            raise Invalid(
                "state.rng: the key 'augment' is missing (state.fit.augment says the run "
                "augmented its batches)"
            )
        raise fail("state.fit.augment", "the augmentation (state.rng.augment is there)", None)


def _one_history_entry_per_epoch(s: dict[str, Any]) -> None:
    epochs = s["history"]["epoch"]
    if epochs != list(range(s["epoch"])):
        raise fail(
            "state.history.epoch",
            f"the epochs done, 0 to {s['epoch'] - 1} (state.epoch is {s['epoch']})",
            epochs,
        )
    for key, values in s["history"]["history"].items():
        if not 1 <= len(values) <= s["epoch"]:
            raise fail(
                f"state.history.history.{key}",
                f"1 to {s['epoch']} entries (state.epoch), one per epoch it was logged in",
                f"{len(values)} entries",
            )


def _logs_end_the_history(s: dict[str, Any]) -> None:
    """The logs are the last epoch's, which the History appended before the state was written:
    every key of theirs ends its history list, and every other key was missing in that epoch."""
    history, logs = s["history"]["history"], s["logs"]
    for key, value in logs.items():
        if key not in history or not same(history[key][-1], value):
            raise Invalid(
                f"state.logs.{key}: expected the last entry of state.history.history.{key}, got "
                f"{shown(value)}"
            )
    for key, values in history.items():
        if key not in logs and len(values) >= s["epoch"]:
            raise Invalid(
                f"state.logs: the key {key!r} is missing (state.history.history.{key} has an "
                "entry for every epoch, the last one too)"
            )


INVARIANTS: tuple[Callable[[dict[str, Any]], None], ...] = (
    _epoch_within_epochs,
    _a_reason_only_when_stopped,
    _augment_generator_with_augmentation,
    _one_history_entry_per_epoch,
    _logs_end_the_history,
)


def validate(state: Any, tensors: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """``state`` (the parsed JSON) checked against :data:`STATE` and :data:`INVARIANTS`;
    returns the same tree with every encoded part decoded.

    Raises:
        Invalid: naming the first field that is not what the writer writes.
    """
    if depth(state) > MAX_DEPTH:
        raise Invalid(f"state: nested deeper than {MAX_DEPTH} levels")
    decoded = STATE(state, "state", tensors)
    for invariant in INVARIANTS:
        invariant(decoded)
    return decoded
