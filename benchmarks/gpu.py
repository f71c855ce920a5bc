"""The GPU path on a CUDA machine: the MLP cases per training step, deltaprop on CuPy against
PyTorch on CUDA, and the same step captured as a CUDA graph (CuPy's stream capture).

    python benchmarks/gpu.py                  # every case, 50 timed steps after 10 warm-up
    python benchmarks/gpu.py --steps 200 --cases 784-1024-1024-10/256

Needs ``deltaprop[gpu]`` (CuPy for CUDA 12) and a CUDA device; PyTorch with CUDA for its
column (skipped without). Without a GPU it exits with a message and status 1: never a figure
that was not measured. Record the figures in BENCHMARKS.md with the device's name it prints.

Timing: each step is synchronized (``cupy.cuda.Device().synchronize()``,
``torch.cuda.synchronize()``) so that the time is the GPU's work, not the launch; the median
over ``--steps`` steps is reported in milliseconds.

The captured step: the forward, the backward and an SGD update are recorded once into a CUDA
graph on a non-default stream and replayed; deltaprop's ops allocate their outputs, so the
capture needs CuPy's memory pool to hand back the same blocks on replay, which holds for a
fixed batch shape. Where capture fails (an op that synchronizes, a host copy), the column says
why instead of a figure.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

CASES = ("64-256-256-10/64", "784-1024-1024-10/256", "784-4096-4096-10/1024")


def _need_gpu():
    try:
        import cupy
    except Exception:
        sys.exit("benchmarks/gpu.py: CuPy is not installed (pip install deltaprop[gpu]); "
                 "no GPU figures measured")  # fmt: skip
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        sys.exit(f"benchmarks/gpu.py: CuPy sees no CUDA device ({exc}); no GPU figures measured")
    if n == 0:
        sys.exit("benchmarks/gpu.py: CuPy sees no CUDA device; no GPU figures measured")
    props = cupy.cuda.runtime.getDeviceProperties(0)
    return cupy, props["name"].decode() if isinstance(props["name"], bytes) else props["name"]


def _parse(case: str):
    widths, batch = case.split("/")
    return [int(w) for w in widths.split("-")], int(batch)


def _time(step, sync, steps: int, warmup: int = 10) -> float:
    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def deltaprop_step(cp, widths, batch):
    import deltaprop as dp
    from deltaprop import nn, optim

    dp.seed(0)
    layers = []
    for a, b in zip(widths[:-2], widths[1:-1]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(widths[-2], widths[-1])).to("cuda")
    opt = optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    X = cp.random.standard_normal((batch, widths[0]), dtype=cp.float32)
    y = cp.random.randint(0, widths[-1], batch)

    def step():
        opt.zero_grad()
        loss_fn(model(dp.Tensor._wrap(X)), dp.Tensor._wrap(y)).backward()
        opt.step()

    return step


def captured(cp, step):
    """The step replayed from a CUDA graph, or the reason capture failed."""
    stream = cp.cuda.Stream(non_blocking=True)
    try:
        with stream:
            step()  # allocate the pool's blocks outside the capture
            stream.synchronize()
            stream.begin_capture()
            step()
            graph = stream.end_capture()
    except Exception as exc:  # an op that cannot be captured
        return None, f"capture failed: {type(exc).__name__}: {exc}"[:70]
    return (lambda: graph.launch(stream)), stream.synchronize


def torch_step(widths, batch):
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    torch.manual_seed(0)
    layers = []
    for a, b in zip(widths[:-2], widths[1:-1]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers, torch.nn.Linear(widths[-2], widths[-1])).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    X = torch.randn(batch, widths[0], device="cuda")
    y = torch.randint(0, widths[-1], (batch,), device="cuda")
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(model(X), y).backward()
        opt.step()

    return step, torch.cuda.synchronize


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--cases", default=",".join(CASES))
    args = ap.parse_args()
    cp, name = _need_gpu()
    sync = cp.cuda.Device().synchronize
    print(f"device: {name}; median ms per training step over {args.steps} steps")
    print(f"{'case':>24}  {'deltaprop':>9}  {'captured':>9}  {'torch':>9}")
    for case in args.cases.split(","):
        widths, batch = _parse(case)
        step = deltaprop_step(cp, widths, batch)
        ours = _time(step, sync, args.steps)
        replay, how = captured(cp, step)
        graph = f"{_time(replay, how, args.steps):9.3f}" if replay else how
        torch = torch_step(widths, batch)
        theirs = f"{_time(*torch, args.steps):9.3f}" if torch else "n/a"
        print(f"{case:>24}  {ours:9.3f}  {graph:>9}  {theirs:>9}")


if __name__ == "__main__":
    main()
