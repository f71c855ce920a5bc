"""A real training process for tests/train/test_training_state*.py (not a test module itself).

    python training_state_worker.py CONFIG WORKDIR [--no-checkpoint]

trains one of the configurations in :data:`CONFIGS` with ``fit(checkpoint=P, resume_from=P)``
(P = WORKDIR/state.ckpt), so that running it again after a kill resumes where the last
checkpoint left off, and on success writes the final weights (``weights.npz``) and the History
(``history.json``) to WORKDIR, each atomically. ``--no-checkpoint`` trains without any
checkpointing: the uninterrupted reference.

With the environment variable ``DP_TEST_WRITE_DELAY=<seconds>``, every checkpoint write sleeps
that long between writing the temporary file and renaming it over the checkpoint (``os.replace``
is wrapped), and appends ``begin`` / ``end`` lines to WORKDIR/events around it, so the test can
kill the process in the middle of a write and tell that it did.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time

import numpy as np

import deltaprop as dp
from deltaprop import nn, optim
from deltaprop.optim.schedules import StepLR
from deltaprop.optim.schedules_cosine import CosineAnnealingLR
from deltaprop.train.callbacks import CSVLogger, EarlyStopping, ReduceLROnPlateau

EPOCHS = {"steplr": 16, "cosine_es": 40}


def data(n=2400, d=12, k=3):
    """Synthetic 3-class data: (X, y) to train on and (X_val, y_val)."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((n, d)).astype(np.float32)
    logits = X[:, :k] * 1.5 + 0.6 * rng.standard_normal((n, k))
    y = logits.argmax(axis=1).astype(np.int64)
    cut = n * 3 // 4
    return X[:cut], y[:cut], (X[cut:], y[cut:])


def build(config: str, workdir: str):
    """(trainer, fit keyword arguments) of a configuration, the same in every process."""
    dp.seed(11)
    if config == "steplr":
        # BatchNorm (buffers), Dropout, Adam, StepLR per epoch, an EarlyStopping that never
        # fires, ReduceLROnPlateau, CSVLogger; rows shuffled by fit's own seeded generator.
        model = nn.Sequential(
            nn.Linear(12, 48), nn.BatchNorm1d(48), nn.ReLU(), nn.Dropout(0.3), nn.Linear(48, 3)
        )
        opt = optim.Adam(model.parameters(), lr=3e-3)
        sched = StepLR(opt, step_size=4, gamma=0.7)
        callbacks = [
            EarlyStopping(monitor="val_loss", patience=1000, verbose=False),
            ReduceLROnPlateau(monitor="val_loss", patience=2, factor=0.5, verbose=False),
            CSVLogger(os.path.join(workdir, "log.csv")),
        ]
        trainer = dp.Trainer(
            model, nn.CrossEntropyLoss(), opt, scheduler=sched, callbacks=callbacks
        )
        kwargs = {"seed": 5}
    elif config == "cosine_es":
        # Dropout, Adam, cosine per step, an EarlyStopping that fires; rows shuffled by
        # deltaprop's library generator (the one dropout draws from too).
        model = nn.Sequential(nn.Linear(12, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 3))
        opt = optim.Adam(model.parameters(), lr=1e-3)
        sched = CosineAnnealingLR(opt, T_max=4000)
        callbacks = [EarlyStopping(monitor="val_loss", patience=3, verbose=False)]
        trainer = dp.Trainer(
            model,
            nn.CrossEntropyLoss(),
            opt,
            scheduler=sched,
            scheduler_interval="step",
            callbacks=callbacks,
        )
        kwargs = {"seed": None}
    else:
        raise SystemExit(f"unknown config {config!r}")
    kwargs.update(epochs=EPOCHS[config], batch_size=16, verbose=False)
    return trainer, kwargs


def _append(path: str, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def _slow_writes(checkpoint: str, events: str, delay: float) -> None:
    original = os.replace
    target = os.path.abspath(checkpoint)

    def replace(src, dst, *args, **kwargs):
        if os.path.abspath(os.fspath(dst)) != target:
            return original(src, dst, *args, **kwargs)
        _append(events, "begin")
        time.sleep(delay)  # the temporary file is written and fsynced; the rename is pending
        result = original(src, dst, *args, **kwargs)
        _append(events, "end")
        return result

    os.replace = replace


def _atomic_bytes(path: str, data: bytes) -> None:
    tmp = path + ".partial"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    config, workdir = argv[0], argv[1]
    use_checkpoint = "--no-checkpoint" not in argv[2:]
    checkpoint = os.path.join(workdir, "state.ckpt")
    delay = float(os.environ.get("DP_TEST_WRITE_DELAY", "0") or 0)
    if use_checkpoint and delay > 0:
        _slow_writes(checkpoint, os.path.join(workdir, "events"), delay)
    X, y, val = data()
    trainer, kwargs = build(config, workdir)
    kwargs["validation_data"] = val
    if use_checkpoint:
        kwargs.update(checkpoint=checkpoint, resume_from=checkpoint)
    if delay > 0:
        _append(os.path.join(workdir, "events"), "fit")
    t0 = time.perf_counter()
    history = trainer.fit(X, y, **kwargs)
    seconds = time.perf_counter() - t0
    buffer = io.BytesIO()
    np.savez(buffer, **trainer.model.state_dict())
    _atomic_bytes(os.path.join(workdir, "weights.npz"), buffer.getvalue())
    result = {
        "history": history.history,
        "epoch": history.epoch,
        "stop_reason": trainer.stop_reason,
        "fit_seconds": seconds,
    }
    _atomic_bytes(os.path.join(workdir, "history.json"), json.dumps(result).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
