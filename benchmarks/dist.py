"""Data-parallel throughput on MPI: epoch time of 1 rank against N ranks, one BLAS thread each,
on a compute-bound MLP (issue 15's goal: >= 1.7x the rows per second on 2 ranks).

    python benchmarks/dist.py                       # 1 and 2 ranks, 4 epochs (first dropped)
    python benchmarks/dist.py --ranks 1,2,4 --epochs 6 --hidden 1024,1024 --batch 256
    python benchmarks/dist.py --reduce shm          # only the shared-memory sum
    python benchmarks/dist.py --compile             # every run through the compiled step
    python benchmarks/dist.py --repeat 5            # 5 rounds in turn: the median speed-up

Each rank count is a separate ``mpiexec -n N`` run of this script (``--worker``) from the
venv's bin, with ``OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=MKL_NUM_THREADS=1``: the same global
batch, the same data and weights (``dp.seed``), so the ranks share the work of one run and
every rank count trains the same model. An epoch's time is rank 0's ``epoch_seconds``; the
first epoch (warm-up: allocations, the first collective) is left out, and the median of the
rest is reported. "sum ms" is one sum of the model's gradient bucket alone (after a barrier, so
no waiting for a late rank: the median of 50, after training). Several ranks run once per
gradient sum of ``--reduce`` (default both: "mpi", one Allreduce; "shm", through a
shared-memory window; see :mod:`deltaprop.parallel.gradsum`). Needs ``deltaprop[dist]``; on a
machine with fewer cores than ranks the figure means nothing (the script says so).

``--repeat R`` runs the whole sequence R times in turn and ends with each speed-up's median
and range over the rounds, each against its own round's 1 rank: on a VM whose speed drifts
by 5-10% between runs, one pair of runs decides nothing about a goal 0.05x away.
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
    solo = args.solo > 0  # one of N independent processes, each on a 1/N share: no MPI at all
    if solo:
        X, y = X[: args.rows // args.solo], y[: args.rows // args.solo]
    world = False if solo else parallel.World(reduce=args.reduce)
    trainer = dp.Trainer(model, "cross_entropy", "sgd", lr=0.01, distributed=world,
                         compile=args.compile)  # fmt: skip
    batch = args.batch // args.solo if solo else args.batch
    history = trainer.fit(X, y, epochs=args.epochs, batch_size=batch, verbose=False)
    sum_ms = None if solo else sum_alone(world, list(model.parameters()))
    if solo or parallel.is_root():
        print(json.dumps({"ranks": parallel.size(), "epoch_seconds": history.history[
            "epoch_seconds"], "loss": history.history["loss"][-1],
            "summed_by": world.summed_by if world else None, "sum_ms": sum_ms}),
            flush=True)  # fmt: skip


def sum_alone(world, params: list, reps: int = 50) -> float:
    """Milliseconds of one sum of the model's gradient bucket over the ranks, by the world's
    sum (median of ``reps``, each after a barrier, so a rank's lateness is not counted)."""
    import statistics
    from time import perf_counter

    from deltaprop.parallel.bucket import layout
    from deltaprop.parallel.gradsum import gradient_sum

    summed = gradient_sum(world, *reversed(layout(params, 2)))
    summed.buffer.fill(1)
    times = []
    for _ in range(reps):
        world.barrier("the timing's barrier")
        start = perf_counter()
        summed.sum("the timed sum")
        times.append(perf_counter() - start)
    summed.close()
    return statistics.median(times) * 1000


def _worker_cmd(args: argparse.Namespace, reduce: str = "mpi") -> list[str]:
    return [sys.executable, __file__, "--worker", "--epochs", str(args.epochs),
            "--rows", str(args.rows), "--batch", str(args.batch),
            "--features", str(args.features), "--hidden", args.hidden,
            "--reduce", reduce, *(["--compile"] if args.compile else [])]  # fmt: skip


def launch(n: int, reduce: str, args: argparse.Namespace) -> dict:
    mpiexec = Path(sys.executable).parent / "mpiexec"
    if not mpiexec.exists():
        sys.exit(f"no mpiexec next to {sys.executable}: pip install deltaprop[dist]")
    env = {**os.environ, **dict.fromkeys(THREAD_VARS, "1")}
    cmd = [str(mpiexec), "-n", str(n), *_worker_cmd(args, reduce)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout)
    if out.returncode != 0:
        sys.exit(f"mpiexec -n {n} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def limit(n: int, args: argparse.Namespace) -> float:
    """The epoch time with no communication at all: n independent processes at once (one BLAS
    thread each), each training on 1/n of the rows with 1/n of the batch, i.e. the same
    GEMMs per step as a rank; the slowest one's median epoch. What n ranks would take if
    the allreduce were free: the part of the speed-up lost to the cores' shared memory and
    the smaller GEMMs, which no communication scheme wins back."""
    env = {**os.environ, **dict.fromkeys(THREAD_VARS, "1")}
    procs = [subprocess.Popen([*_worker_cmd(args), "--solo", str(n)], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(n)]  # fmt: skip
    times = []
    for p in procs:
        out, err = p.communicate(timeout=args.timeout)
        if p.returncode != 0:
            sys.exit(f"the no-communication run failed ({p.returncode}):\n{out}\n{err}")
        seconds = json.loads(out.strip().splitlines()[-1])["epoch_seconds"]
        times.append(statistics.median(seconds[1:] or seconds))
    return max(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--ranks", default="1,2")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--rows", type=int, default=8192)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--features", type=int, default=784)
    ap.add_argument("--hidden", default="1024,1024")
    ap.add_argument("--reduce", default="mpi,shm", help="the gradient sums to run: mpi, shm")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--compile", action="store_true", help="every run with compile=True")
    ap.add_argument("--solo", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--repeat", type=int, default=1,
                    help="rounds of every run in turn; the median speed-up over them")  # fmt: skip
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    ranks = [int(r) for r in args.ranks.split(",")]
    cores = os.cpu_count() or 1
    print(f"MLP {args.features}-{args.hidden.replace(',', '-')}-10, {args.rows} rows, global "
          f"batch {args.batch}, one BLAS thread per rank, {cores} cores; median epoch of "
          f"epochs 2..{args.epochs}{'; compiled step' if args.compile else ''}")  # fmt: skip
    if max(ranks) > cores:
        print(f"note: {max(ranks)} ranks on {cores} cores: the figures below mean nothing")
    print(f"{'ranks':>5}  {'sum':>4}  {'epoch s':>8}  {'rows/s':>9}  {'speed-up':>8}  "
          f"{'no-comm limit':>13}  {'sum ms':>6}  final loss")  # fmt: skip
    speedups: dict[tuple[int, str], list[float]] = {}
    for r in range(args.repeat):
        if args.repeat > 1:
            print(f"round {r + 1} of {args.repeat}")
        base = None
        for n in ranks:
            bound = args.rows / limit(n, args) / base if n > 1 and base else 1.0
            if n > 1:
                speedups.setdefault((n, "no-comm"), []).append(bound)
            for reduce in args.reduce.split(",") if n > 1 else ["mpi"]:
                result = launch(n, reduce, args)
                epochs = result["epoch_seconds"]
                seconds = statistics.median(epochs[1:] or epochs)
                rate = args.rows / seconds
                base = base or rate
                speedups.setdefault((n, result["summed_by"]), []).append(rate / base)
                print(f"{n:>5}  {result['summed_by']:>4}  {seconds:>8.3f}  {rate:>9.0f}  "
                      f"{rate / base:>7.2f}x  {bound:>12.2f}x  {result['sum_ms']:>6.2f}  "
                      f"{result['loss']:.6f}")  # fmt: skip
    if args.repeat > 1:
        print(f"over {args.repeat} rounds (each against its own round's 1 rank):")
        for (n, how), values in speedups.items():
            if n > 1:
                print(
                    f"  {n} ranks {how:>7}: median {statistics.median(values):.2f}x, "
                    f"{min(values):.2f}-{max(values):.2f}x"
                )


if __name__ == "__main__":
    main()
