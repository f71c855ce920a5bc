"""Data-parallel throughput on MPI: epoch time of 1 rank against N ranks, one BLAS thread each,
on a compute-bound MLP (issue 15's goal: >= 1.7x the rows per second on 2 ranks).

    python benchmarks/dist.py                       # 1 and 2 ranks, 4 epochs (first dropped)
    python benchmarks/dist.py --ranks 1,2,4 --epochs 6 --hidden 1024,1024 --batch 256

Each rank count is a separate ``mpiexec -n N`` run of this script (``--worker``) from the
venv's bin, with ``OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=MKL_NUM_THREADS=1``: the same global
batch, the same data and weights (``dp.seed``), so the ranks share the work of one run and
every rank count trains the same model. An epoch's time is rank 0's ``epoch_seconds``; the
first epoch (warm-up: allocations, the first collective) is left out, and the median of the
rest is reported. Needs ``deltaprop[dist]``; on a machine with fewer cores than ranks the
figure means nothing (the script says so).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def worker(args: argparse.Namespace) -> None:
    import numpy as np

    import deltaprop as dp
    from deltaprop import nn, parallel

    dp.seed(0)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.rows, args.features)).astype(np.float32)
    y = rng.integers(0, 10, args.rows)
    widths = [args.features, *[int(h) for h in args.hidden.split(",")]]
    layers = []
    for a, b in zip(widths, widths[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(widths[-1], 10))
    trainer = dp.Trainer(model, "cross_entropy", "sgd", lr=0.01, distributed=True)
    history = trainer.fit(X, y, epochs=args.epochs, batch_size=args.batch, verbose=False)
    if parallel.is_root():
        print(json.dumps({"ranks": parallel.size(), "epoch_seconds": history.history[
            "epoch_seconds"], "loss": history.history["loss"][-1]}), flush=True)  # fmt: skip


def launch(n: int, args: argparse.Namespace) -> dict:
    mpiexec = Path(sys.executable).parent / "mpiexec"
    if not mpiexec.exists():
        sys.exit(f"no mpiexec next to {sys.executable}: pip install deltaprop[dist]")
    env = {**os.environ, **dict.fromkeys(THREAD_VARS, "1")}
    cmd = [str(mpiexec), "-n", str(n), sys.executable, __file__, "--worker",
           "--epochs", str(args.epochs), "--rows", str(args.rows), "--batch", str(args.batch),
           "--features", str(args.features), "--hidden", args.hidden]  # fmt: skip
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout)
    if out.returncode != 0:
        sys.exit(f"mpiexec -n {n} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--ranks", default="1,2")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--rows", type=int, default=8192)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--features", type=int, default=784)
    ap.add_argument("--hidden", default="1024,1024")
    ap.add_argument("--timeout", type=float, default=1800)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    ranks = [int(r) for r in args.ranks.split(",")]
    cores = os.cpu_count() or 1
    print(f"MLP {args.features}-{args.hidden.replace(',', '-')}-10, {args.rows} rows, global "
          f"batch {args.batch}, one BLAS thread per rank, {cores} cores; median epoch of "
          f"epochs 2..{args.epochs}")  # fmt: skip
    if max(ranks) > cores:
        print(f"note: {max(ranks)} ranks on {cores} cores: the figures below mean nothing")
    base = None
    print(f"{'ranks':>5}  {'epoch s':>8}  {'rows/s':>9}  {'speed-up':>8}  final loss")
    for n in ranks:
        result = launch(n, args)
        seconds = statistics.median(result["epoch_seconds"][1:] or result["epoch_seconds"])
        rate = args.rows / seconds
        base = base or rate
        print(f"{n:>5}  {seconds:>8.3f}  {rate:>9.0f}  {rate / base:>7.2f}x  {result['loss']:.6f}")


if __name__ == "__main__":
    main()
