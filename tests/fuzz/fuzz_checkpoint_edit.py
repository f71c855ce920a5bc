"""The ``checkpoint-edit`` fuzz target: a training state edited as a person would edit it
(a number, a key or a type in the state JSON, a tensor replaced, cast, made non-finite) and
sealed by deltaprop's own writer, so that every checksum is right and the edit reaches the
reader's checks of structure and ranges (issue 9 item 8).

The edit is deliberate, so a resume that differs from the original is accepted; wrong is any
other exception than a DeltapropError, a hang, a History that is not epochs 0..5 (more or
fewer epochs than asked without a stop, gaps, repeats, lists of other lengths), or non-finite
weights or buffers after ``fit`` returned normally.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import mutate_json
import numpy as np
from fuzz_files import EPOCHS, CheckpointTarget, fit, run_summary
from fuzzcore import Mutant, Skip, Wrong

from deltaprop.errors import DeltapropError
from deltaprop.train import state as train_state


class CheckpointEditTarget(CheckpointTarget):
    name = "checkpoint-edit"
    stream = "checkpoint-edit"

    def setup(self, workdir: str) -> None:
        # Record what the writer is given at the last epoch; a trial writes an edited copy
        # through the same writer (deltaprop seals it: the checksums are its own).
        calls: list[tuple] = []
        original = train_state.Writer.write

        def spy(writer: Any, *args: Any, **kwargs: Any) -> None:
            calls.append((writer, args, kwargs))
            original(writer, *args, **kwargs)

        train_state.Writer.write = spy
        try:
            super().setup(workdir)
        finally:
            train_state.Writer.write = original
        self.writer, self.args, self.kwargs = calls[-1]
        state = train_state.read(os.path.join(workdir, "pristine.ckpt"))  # what that write held
        self.snapshot = (dict(state.tensors), state.state)
        resealed = os.path.join(workdir, "resealed.ckpt")
        self.write(resealed, *self.snapshot)
        assert run_summary(*fit(EPOCHS, resume_from=resealed)) == self.reference, "harness bug"

    def write(self, path: str, tensors: dict, tree: dict) -> None:
        self.writer.path = path
        original = train_state.snapshot
        train_state.snapshot = lambda *a, **k: (tensors, tree)
        try:
            self.writer.write(*self.args, **self.kwargs)
        finally:
            train_state.snapshot = original

    def mutate_file(self, rng: np.random.Generator) -> Mutant:
        tensors = {k: v.copy() for k, v in self.snapshot[0].items()}
        tree = copy.deepcopy(self.snapshot[1])
        if rng.random() < 0.7:
            tree, what = mutate_json.edit(tree, rng, deep=False, finite_only=True)
            return Mutant("state-edit", what, payload=(tensors, tree))
        names = sorted(tensors)
        name = names[rng.integers(len(names))]
        a = tensors[name]
        kind = rng.integers(7)
        if kind == 0 and a.size:
            a = a.copy()
            if a.dtype.kind == "f":
                a.flat[rng.integers(a.size)] = [np.inf, -np.inf, np.nan][rng.integers(3)]
                what = "a non-finite value in"
            else:
                a.flat[rng.integers(a.size)] = [-1, np.iinfo(a.dtype).max][rng.integers(2)]
                what = "an extreme integer in"
        elif kind == 1:
            a = a.reshape(-1) if a.ndim != 1 else a.reshape(1, -1)
            what = "reshaped"
        elif kind == 2:
            a = a.astype([np.float64, np.float16, np.int64, np.bool_][rng.integers(4)])
            what = f"cast to {a.dtype}"
        elif kind == 3:
            a = a * np.asarray(1e30, a.dtype) if a.dtype.kind == "f" else a + 10**9
            what = "scaled up in"
        elif kind == 4:
            del tensors[name]
            return Mutant("tensor-edit", f"deleted {name!r}", payload=(tensors, tree))
        elif kind == 5:
            a = np.zeros((0,), a.dtype)
            what = "emptied"
        else:
            other = names[rng.integers(len(names))]
            tensors[name], tensors[other] = tensors[other], tensors[name]
            return Mutant("tensor-edit", f"swapped {name!r}, {other!r}", payload=(tensors, tree))
        tensors[name] = a
        return Mutant("tensor-edit", f"{what} {name!r}", payload=(tensors, tree))

    def materialize(self, mutant: Mutant, path: str) -> None:
        if mutant.special is not None:
            return super().materialize(mutant, path)
        try:
            self.write(path, *mutant.payload)
        except DeltapropError:
            raise  # the writer refused the edited state: a clean error too
        except Exception as e:  # a state deltaprop never makes (not a file a reader sees)
            raise Skip(f"the writer cannot write it: {type(e).__name__}: {e}") from e

    def judge(self, result: Any, mutant: Mutant) -> tuple[str, str]:
        trainer, history = result
        epochs = list(history.epoch)
        if epochs != list(range(len(epochs))) or len(epochs) > EPOCHS:
            raise Wrong("resumed an inconsistent state (History epochs)", f"{epochs[:12]}")
        if len(epochs) < EPOCHS and not trainer.stop_training:
            raise Wrong("resumed an inconsistent state (fewer epochs, not stopped)", f"{epochs}")
        lengths = {k: len(v) for k, v in history.history.items()}
        if any(n != len(epochs) for n in lengths.values()):
            raise Wrong("resumed an inconsistent state (History lengths)", str(lengths))
        for name, value in trainer.model.state_dict().items():
            if not np.all(np.isfinite(value)):
                raise Wrong("fit returned with non-finite weights", name)
        if run_summary(trainer, history) == self.reference:
            return "identical", ""
        return "accepted", ""
