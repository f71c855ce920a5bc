"""A training run for the MPI tests, started by them under ``mpiexec`` (not collected).

    python dist_run.py OUT --epochs 5 [--checkpoint F] [--resume F] [--kill-rank R --at E
                       --signal KILL|STOP] [--timeout S] [--reduce auto|mpi|shm] [--mixed]
                       [--regularize] [--compile] [--strict] [--threads]

Every rank trains the same small MLP on the same data (rows and labels from a fixed seed) with
``Trainer(..., distributed=World(timeout))``; rank 0 writes the final weights to OUT (.npy).
With ``--kill-rank``, that rank sends itself SIGKILL (or SIGSTOP: a hung rank) at the end of
epoch ``--at`` (0-based), before that epoch's checkpoint. ``--reduce`` picks how the
gradients are summed (rank 0 prints ``summed by mpi|shm``); ``--mixed`` makes the last layer
float64 (a bucket of two dtypes); ``--regularize`` adds what changes the summed gradients in
place (l1 and l2 penalties, clipping by norm and by value); ``--compile`` trains through the
compiled step (its replays write the gradients into the rank's slot of the sum); ``--threads``
prints each rank's BLAS threads before, during and after ``fit``; ``--strict``
trains on the strict device (CuPy's refusals on NumPy: the gradients reach the host bucket and
come back by explicit copies only), and a refusal anywhere ends the rank with exit code 3.
"""

from __future__ import annotations

import argparse
import os
import signal

import numpy as np

import deltaprop as dp
from deltaprop import nn, parallel, strict_backend
from deltaprop.callbacks import Callback


def data(n: int = 203, d: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(np.int64) + (X[:, 3] > 1)
    return X, y


def model(d: int = 12):
    return nn.Sequential(nn.Linear(d, 32), nn.Tanh(), nn.Linear(32, 16), nn.ReLU(),
                         nn.Linear(16, 3))  # fmt: skip


class Die(Callback):
    def __init__(self, rank: int, epoch: int, sig: int) -> None:
        self.rank, self.epoch, self.sig = rank, epoch, sig

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch and parallel.rank() == self.rank:
            os.kill(os.getpid(), self.sig)


def _blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return sorted({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"})


class BlasThreads(Callback):
    """Records the BLAS threads before fit (at its first hook) and during an epoch."""

    before: list[int] = []
    seen: list[int] = []

    def on_epoch_end(self, epoch, logs=None):
        BlasThreads.seen = _blas_threads()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--checkpoint")
    ap.add_argument("--resume")
    ap.add_argument("--kill-rank", type=int)
    ap.add_argument("--at", type=int, default=1)
    ap.add_argument("--signal", default="KILL")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--reduce", default="auto")
    ap.add_argument("--mixed", action="store_true", help="the last layer in float64")
    ap.add_argument("--regularize", action="store_true", help="penalties and clipping")
    ap.add_argument("--single", action="store_true", help="no MPI: the reference run")
    ap.add_argument("--compile", action="store_true", help="Trainer(compile=True)")
    ap.add_argument("--strict", action="store_true", help="on the strict device")
    ap.add_argument("--threads", action="store_true", help="print the BLAS threads in fit")
    args = ap.parse_args()
    BlasThreads.before = _blas_threads()
    dp.seed(0)
    X, y = data()
    # always listed (rank -1: never fires): a checkpoint resumes only with the same callbacks
    rank = -1 if args.kill_rank is None else args.kill_rank
    callbacks = [Die(rank, args.at, getattr(signal, "SIG" + args.signal))]
    if args.threads:
        callbacks.append(BlasThreads())
    world = False if args.single else parallel.World(timeout=args.timeout, reduce=args.reduce)
    net = model()
    if args.mixed:
        for p in net[-1].parameters():
            p.data = p.data.astype(np.float64)
    extra = dict(l1=1e-3, l2=1e-2, clip_norm=0.5, clip_value=0.05) if args.regularize else {}
    trainer = dp.Trainer(net, loss="cross_entropy", optimizer="momentum", lr=0.05,
                         callbacks=callbacks, distributed=world, compile=args.compile,
                         device="strict" if args.strict else None, **extra)  # fmt: skip
    trainer.fit(X, y, epochs=args.epochs, batch_size=args.batch_size, verbose=True,
                checkpoint=args.checkpoint, resume_from=args.resume)  # fmt: skip
    if args.threads:
        print(f"rank {parallel.rank()}: cores {len(os.sched_getaffinity(0))}, blas threads "
              f"before {BlasThreads.before}, in fit {BlasThreads.seen}, after "
              f"{_blas_threads()}", flush=True)  # fmt: skip
    if parallel.is_root():
        if world:
            print("summed by", world.summed_by)
        if world and args.compile:  # gradients the last step's replay wrote into the sum
            print(
                "in place", trainer._dist.bucket.in_place, "replays", trainer._dist.compiled.replays
            )
        np.save(args.out, np.concatenate([p.numpy().ravel() for p in net.parameters()]))
    if strict_backend.VIOLATIONS:  # a refusal the library caught and went on from
        print("strict device refused:", strict_backend.VIOLATIONS[0], flush=True)
        raise SystemExit(3)


if __name__ == "__main__":
    main()
