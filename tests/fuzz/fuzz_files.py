"""Fuzz targets for deltaprop's own files: model files and training checkpoints.

``model``            a model file as ``deltaprop train --save`` writes it (an MLP with BatchNorm
                     and Dropout; the CLI's metadata: standardizer, one-hot preprocessor,
                     settings), mutated byte-wise and JSON-wise, read by ``dp.load``.
                     Identical: the same architecture JSON, tensors bit for bit, metadata.
``checkpoint``       a training state written by ``fit(checkpoint=...)`` (3 of 6 epochs, Adam,
                     StepLR, EarlyStopping), mutated likewise, resumed by ``fit(resume_from=)``.
                     Identical: the same weights, optimizer state and History as resuming the
                     original.
(``checkpoint-edit``, the same state hand-edited: :mod:`fuzz_checkpoint_edit`.)
"""

from __future__ import annotations

import contextlib
import io as _io
import json
import os
from typing import Any

import mutate_bytes
import numpy as np
from fuzzcore import Mutant, Target, Wrong

import deltaprop as dp
from deltaprop import io, nn, optim, report
from deltaprop.optim.schedules import StepLR
from deltaprop.train import loop
from deltaprop.train.callbacks import EarlyStopping


def tensors_of(state: dict[str, Any]) -> dict[str, tuple[str, tuple, bytes]]:
    """name -> (dtype, shape, bytes): equal exactly when the arrays are equal bit for bit."""
    out = {}
    for name, value in state.items():
        a = np.ascontiguousarray(value)
        out[name] = (a.dtype.str, a.shape, a.tobytes())
    return out


def _first_difference(a: Any, b: Any) -> str:
    """Where the loaded ``a`` differs from the reference ``b``, in a few words."""
    if isinstance(a, dict):
        if list(a) != list(b):
            return f"tensor names {list(a)[:4]}... vs {list(b)[:4]}..."
        return "tensor " + next(k for k in a if a[k] != b[k])
    i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return (
        f"...{a[max(0, i - 30) : i + 20]}... where the file had ...{b[max(0, i - 30) : i + 20]}..."
    )


def canonical(path: str) -> bytes:
    """The file at ``path`` rewritten with its header keys sorted, and its bytes: safetensors
    writes ``__metadata__`` in a per-process random order, and a seed must draw the same
    mutant in every process."""
    with open(path, "rb") as f:
        header, body = mutate_bytes.split(f.read())
    data = mutate_bytes.join(json.dumps(header, sort_keys=True, separators=(",", ":")), body)
    with open(path, "wb") as f:
        f.write(data)
    return data


# --- model files ------------------------------------------------------------------------------


def write_cli_model(folder: str) -> str:
    """Train a tiny model the way ``deltaprop train --save`` does and return the file."""
    rng = np.random.default_rng(0)
    lines = ["f1,f2,f3,color,label"]
    for i in range(60):
        x = rng.normal(size=3)
        color = ["red", "green", "blue"][i % 3]
        label = "abc"[int(x[0] > 0.3) + int(x[1] > 0.5)]
        lines.append(f"{x[0]:.4f},{x[1]:.4f},{x[2]:.4f},{color},{label}")
    with open(os.path.join(folder, "train.csv"), "w") as f:
        f.write("\n".join(lines) + "\n")
    # Relative paths, run in ``folder``: the metadata records them, and the pristine file (so
    # every seed's mutant) must not depend on the name of a temporary folder.
    recipe = dp.Recipe(dataset="train.csv", hidden="8,6", batchnorm=True, dropout=0.2, epochs=2,
                       optimizer="adam", seed=0, save="pristine.safetensors")  # fmt: skip
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        with contextlib.redirect_stdout(_io.StringIO()), report.quiet(all_warnings=True):
            dp.run(recipe, verbose=False, log=lambda line: None)
    finally:
        os.chdir(cwd)
    return os.path.join(folder, "pristine.safetensors")


def model_summary(model: Any, metadata: Any) -> tuple:
    return (
        json.dumps(io.architecture(model), sort_keys=True),
        tensors_of(model.state_dict()),
        json.dumps(metadata, sort_keys=True),
    )


class ModelTarget(Target):
    name = stream = "model"
    suffix = ".safetensors"

    def setup(self, workdir: str) -> None:
        path = write_cli_model(workdir)
        written = model_summary(*dp.load(path, return_metadata=True))
        self.pristine = canonical(path)
        self.reference = model_summary(*dp.load(path, return_metadata=True))
        assert self.reference == written, "the canonical header loads differently: harness bug"

    def mutate_file(self, rng: np.random.Generator) -> Mutant:
        family, data, what = mutate_bytes.safetensors(self.pristine, rng)
        return Mutant(family, what, data)

    def call(self, path: str, mutant: Mutant) -> Any:
        return dp.load(path, return_metadata=True)

    def judge(self, result: Any, mutant: Mutant) -> tuple[str, str]:
        got = model_summary(*result)
        for part, a, b in zip(("architecture", "tensors", "metadata"), got, self.reference):
            if a != b:
                raise Wrong(f"loaded a different model ({part})", _first_difference(a, b))
        return "identical", ""


# --- training checkpoints ---------------------------------------------------------------------

EPOCHS_FIRST, EPOCHS = 3, 6


def checkpoint_data() -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(3)
    X = rng.standard_normal((120, 6)).astype(np.float32)
    y = (X[:, :3] * 1.5 + 0.6 * rng.standard_normal((120, 3))).argmax(axis=1).astype(np.int64)
    return X[:96], y[:96], (X[96:], y[96:])


def build_trainer() -> dp.Trainer:
    """The same Trainer every time (a new process would build it so to resume)."""
    dp.seed(7)
    model = nn.Sequential(
        nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.25), nn.Linear(16, 3)
    )
    opt = optim.Adam(model.parameters(), lr=1e-2)
    callbacks = [EarlyStopping(monitor="val_loss", patience=50, verbose=False)]
    return dp.Trainer(
        model,
        nn.CrossEntropyLoss(),
        opt,
        scheduler=StepLR(opt, step_size=2, gamma=0.5),
        callbacks=callbacks,
    )


def fit(epochs: int, **kwargs: Any) -> tuple[dp.Trainer, Any]:
    X, y, val = checkpoint_data()
    trainer = build_trainer()
    with report.quiet(all_warnings=True):
        history = trainer.fit(
            X, y, epochs=epochs, batch_size=16, validation_data=val, seed=1, verbose=False, **kwargs
        )
    return trainer, history


def run_summary(trainer: dp.Trainer, history: Any) -> tuple:
    """Everything a resumed run ends with, comparable with ``==``."""
    opt_tensors: dict[str, np.ndarray] = {}
    opt_tree = io.encode(trainer.optimizer.state_dict(), "optimizer", opt_tensors)
    hist = {k: v for k, v in history.history.items() if k != "epoch_seconds"}
    return (
        tensors_of(trainer.model.state_dict()),
        json.dumps(opt_tree, sort_keys=True),
        tensors_of(opt_tensors),
        list(history.epoch),
        json.dumps(hist, sort_keys=True, default=float),
        trainer.stop_reason,
    )


PARTS = (
    "weights",
    "optimizer state",
    "optimizer tensors",
    "history epochs",
    "history",
    "stop reason",
)


class CheckpointTarget(Target):
    name = stream = "checkpoint"
    suffix = ".ckpt"

    def setup(self, workdir: str) -> None:
        path = os.path.join(workdir, "pristine.ckpt")
        # epoch_seconds would make every pristine file (so every seed's mutant) different
        clock, loop.perf_counter = loop.perf_counter, lambda: 0.0
        try:
            fit(EPOCHS_FIRST, checkpoint=path)
        finally:
            loop.perf_counter = clock
        self.pristine = canonical(path)
        self.reference = run_summary(*fit(EPOCHS, resume_from=path))
        again = run_summary(*fit(EPOCHS, resume_from=path))
        assert again == self.reference, "resuming the same file twice differs: harness bug"

    def mutate_file(self, rng: np.random.Generator) -> Mutant:
        family, data, what = mutate_bytes.safetensors(self.pristine, rng)
        return Mutant(family, what, data)

    def call(self, path: str, mutant: Mutant) -> Any:
        return fit(EPOCHS, resume_from=path)

    def judge(self, result: Any, mutant: Mutant) -> tuple[str, str]:
        got = run_summary(*result)
        for part, a, b in zip(PARTS, got, self.reference):
            if a != b:
                raise Wrong(f"resumed differently ({part})")
        return "identical", ""
