"""What every fuzz target shares: the mutant, the oracle's verdict, one trial.

A target (:mod:`fuzz_files`, :mod:`fuzz_data`) makes a pristine file once, then per trial
draws a :class:`Mutant` from a seeded generator, writes it to disk (:meth:`Target.materialize`),
makes the library call under test on it (:meth:`Target.call`) and judges what came back
(:meth:`Target.judge`). :func:`trial` runs one seed under a timer and sorts the outcome:

    identical    the call gave exactly what the pristine file gives
    accepted     a different result that is right for the changed file (a data file whose
                 cell changed; a hand-edited checkpoint resumed within its invariants)
    error        a DeltapropError subclass (deltaprop.errors): the clean refusal
    wrong        anything else: another exception type, a different model that loads, a
                 result that breaks the oracle's invariants, a MemoryError (even one wrapped
                 in a DeltapropError: sizes should be checked before allocating)
    hang         the trial ran past its timeout
    skipped      the mutant could not be put on disk (counted apart, not judged)
"""

from __future__ import annotations

import os
import shutil
import signal
import traceback
import warnings
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deltaprop.errors import DeltapropError

SPECIAL_RATE = 0.01  # share of trials that get a FIFO, a folder, /dev/zero... instead of a file
SPECIALS = ("fifo", "folder", "dev-zero", "dangling-link", "empty")


@dataclass
class Mutant:
    """One mutated file: its bytes (or a special file kind) and how it was made."""

    family: str
    description: str
    data: bytes | None = None
    special: str | None = None
    payload: Any = field(default=None, repr=False)  # target-specific (an edited state)


class Wrong(Exception):
    """The oracle's verdict on a call that returned: the result is wrong (``kind`` groups)."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind, self.detail = kind, detail


class Skip(Exception):
    """Raised by :meth:`Target.materialize` for a mutant that cannot be put on disk."""


class TrialTimeout(BaseException):
    """Raised by the timer; a BaseException so that ``except Exception`` cannot swallow it."""


class Target:
    """A kind of file and the library call that reads it. Subclasses set ``name``, ``stream``
    (targets with the same stream see the same mutants), ``suffix`` and the methods."""

    name = ""
    stream = ""
    suffix = ""

    def setup(self, workdir: str) -> None:
        """Make the pristine file(s) in ``workdir`` and the reference result."""
        raise NotImplementedError

    def mutate_file(self, rng: np.random.Generator) -> Mutant:
        raise NotImplementedError

    def mutate(self, rng: np.random.Generator) -> Mutant:
        if rng.random() < SPECIAL_RATE:
            kind = SPECIALS[rng.integers(len(SPECIALS))]
            return Mutant("special-file", f"a {kind} instead of a file", special=kind)
        return self.mutate_file(rng)

    def materialize(self, mutant: Mutant, path: str) -> None:
        """Put the mutant at ``path``."""
        if mutant.special is None:
            with open(path, "wb") as f:
                f.write(mutant.data)
        elif mutant.special == "fifo":
            os.mkfifo(path)  # nobody ever writes: a reader that opens it blocks
        elif mutant.special == "folder":
            os.mkdir(path)
        elif mutant.special == "dev-zero":
            os.symlink("/dev/zero", path)  # endless zero bytes
        elif mutant.special == "dangling-link":
            os.symlink(path + ".missing", path)
        else:
            open(path, "wb").close()

    def call(self, path: str, mutant: Mutant) -> Any:
        raise NotImplementedError

    def judge(self, result: Any, mutant: Mutant) -> tuple[str, str]:
        """``("identical" | "accepted", detail)``, or raise :class:`Wrong`."""
        raise NotImplementedError


def generator(target: Target, seed: int) -> np.random.Generator:
    """The generator of trial ``seed`` of ``target`` (the same for targets of one stream)."""
    return np.random.default_rng([zlib.crc32(target.stream.encode()), seed])


def _on_alarm(signum: int, frame: Any) -> None:
    raise TrialTimeout()


def _memory_in_chain(exc: BaseException) -> bool:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, MemoryError):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def trial(
    target: Target,
    seed: int,
    workdir: str,
    timeout: float,
    tb: bool = False,
    on_start: Any = None,
    keep: str | None = None,
) -> dict:
    """Run trial ``seed`` of ``target`` in a fresh folder under ``workdir``; the outcome as a
    dict (seed, family, description, outcome, kind, detail; with ``tb`` the traceback).
    ``on_start`` gets the record of the mutant before the call; ``keep`` names a folder to
    leave the mutated file in."""
    mutant = target.mutate(generator(target, seed))
    folder = keep or os.path.join(workdir, f"trial-{seed}")
    os.makedirs(folder, exist_ok=keep is not None)
    path = os.path.join(folder, f"{target.name}-{seed}{target.suffix}")
    record = {"seed": seed, "family": mutant.family, "description": mutant.description}
    if on_start is not None:
        on_start(dict(record))
    result: Any = None
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            target.materialize(mutant, path)
            result = target.call(path, mutant)
        outcome, kind, detail = "done", "", ""
    except TrialTimeout:
        outcome, kind, detail = "hang", "hang", f"no answer within {timeout:g} s"
    except Skip as e:
        outcome, kind, detail = "skipped", "skipped", str(e)[:300]
    except DeltapropError as e:
        outcome, kind, detail = "error", type(e).__name__, str(e)[:300]
        if _memory_in_chain(e):
            outcome, kind = "wrong", f"MemoryError (wrapped in {type(e).__name__})"
    except Exception as e:
        outcome, kind, detail = "wrong", f"{type(e).__module__}.{type(e).__name__}", str(e)[:300]
        if tb:
            record["traceback"] = traceback.format_exc()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    if outcome == "done":
        try:
            outcome, detail = target.judge(result, mutant)
        except Wrong as w:
            outcome, kind, detail = "wrong", w.kind, w.detail[:300]
    if keep is None:
        shutil.rmtree(folder, ignore_errors=True)
    record.update(outcome=outcome, kind=kind, detail=detail)
    return record
