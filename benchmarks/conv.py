"""One training epoch of a small CNN: deltaprop against PyTorch CPU and a naive NumPy im2col loop.

    python benchmarks/conv.py                 # 7 rounds, memory probes, the tables (~1 minute)
    python benchmarks/conv.py --threads 1,2   # one and two threads in the same rounds
    python benchmarks/conv.py --quick         # 2 rounds, 512 images: a smoke test
    python benchmarks/conv.py --check         # all end the epoch (float64) with the same weights
    python benchmarks/conv.py --profile       # cProfile of deltaprop's epoch, top 25 by own time

The network, float32, every method from the same initial weights over the same batches (the
images in order, no shuffling), plain SGD (lr 0.01) on softmax cross-entropy:

    conv(1->16, 3x3, pad 1) - relu - maxpool 2 - conv(16->32, 3x3, pad 1) - relu - maxpool 2
    - flatten - linear(32*7*7 -> 10)

on 2048 seeded random 28x28 images (standard normal) with random labels 0-9, batch 64.

Methods:
  deltaprop  nn.Sequential(nn.Conv2d, nn.ReLU, nn.MaxPool2d, ..., nn.Flatten, nn.Linear),
             nn.CrossEntropyLoss, optim.SGD: zero_grad, loss(model(x), y).backward(), step
  compiled   the same model, loss and optimizer through dp.compile_step (the first step
             recorded, the rest replayed)
  lanes      the compiled step with lanes = the row's thread count (dp.compile_step(...,
             lanes=N)): each batch split over N threads, BLAS at one thread in each
  torch      the same in PyTorch eager on the CPU, torch.set_num_threads(the BLAS threads
             NumPy uses, so both get the same cores)
  naive      a hand-written NumPy loop whose convolutions run image by image: im2col of one
             image (a Python loop over the 9 kernel taps), one GEMM, and col2im the same way
             (the textbook NumPy CNN); max pool by reshape and argmax

Timing: one warm-up epoch per method, then ``--repeats`` rounds that time one epoch of every
method in turn, at every thread count of ``--threads`` (outside load then hits all alike); the
table gives the median per method, its ratio to PyTorch's, and the median of the per-round
ratios (steadier on a loaded machine: the two epochs of a ratio ran back to back).
Before anything, one 24 MB allocation settles glibc's mmap threshold (harness.settle_allocator).

Memory: ``traced`` is tracemalloc's peak during one warm epoch (NumPy reports its buffers to
it; PyTorch's CPU allocator does not, and keeps no statistics of its own on the CPU), so the
comparison with PyTorch is ``RSS``: the growth of the resident set's high-water mark over the
first epoch in a fresh process (harness.rss_first_epoch), for every method alike.
"""

from __future__ import annotations

import argparse
import cProfile
import math
import pstats
import statistics
import sys
import time
from collections.abc import Callable

import harness
import numpy as np
import report

import deltaprop as dp
from deltaprop import nn, optim

SEED = 0
N_IMAGES = 2048
BATCH = 64
LR = 0.01
CLASSES = 10
METHODS = ("deltaprop", "compiled", "lanes", "torch", "naive")


def make_data(n: int, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    X = rng.standard_normal((n, 1, 28, 28)).astype(dtype)
    y = rng.integers(0, CLASSES, n).astype(np.int64)
    return X, y


def init_weights(dtype=np.float32) -> dict[str, np.ndarray]:
    """PyTorch's default bounds, U(+-1/sqrt(fan_in)), for weights and biases alike; the conv
    weights in PyTorch's (out, in, kh, kw) layout, the Linear weight as deltaprop's (in, out)."""
    rng = np.random.default_rng(SEED + 1)

    def u(shape, fan_in):
        b = 1 / math.sqrt(fan_in)
        return rng.uniform(-b, b, shape).astype(dtype)

    return {
        "w1": u((16, 1, 3, 3), 9),
        "b1": u((16,), 9),
        "w2": u((32, 16, 3, 3), 144),
        "b2": u((32,), 144),
        "w3": u((32 * 7 * 7, 10), 32 * 7 * 7),
        "b3": u((10,), 32 * 7 * 7),
    }


def batches(X, y):
    for i in range(0, len(X), BATCH):
        yield X[i : i + BATCH], y[i : i + BATCH]


# --- the methods: each setup returns (epoch, weights) -----------------------------------------


def setup_deltaprop(X, y, w, compiled: bool = False, lanes: int = 1):
    dtype = X.dtype.name
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, dtype=dtype),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1, dtype=dtype),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 7 * 7, 10, dtype=dtype),
    )
    for layer, (kw, kb) in zip(
        (model[0], model[3], model[7]), (("w1", "b1"), ("w2", "b2"), ("w3", "b3"))
    ):
        layer.weight.data = w[kw].copy()
        layer.bias.data = w[kb].copy()
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=LR)
    step = dp.compile_step(model, loss_fn, opt, lanes=lanes) if compiled else None

    def epoch():
        for xb, yb in batches(X, y):
            if step is not None:  # the recorded step, replayed (dp.compile_step)
                step(xb, yb)
                continue
            opt.zero_grad()
            loss_fn(model(dp.Tensor(xb, dtype=xb.dtype)), yb).backward()
            opt.step()

    def weights():
        return [p.numpy() for p in model.parameters()]

    return epoch, weights


def setup_torch(X, y, w, threads: int):
    import torch

    torch.set_num_threads(threads)
    tnn = torch.nn
    model = tnn.Sequential(
        tnn.Conv2d(1, 16, 3, padding=1),
        tnn.ReLU(),
        tnn.MaxPool2d(2),
        tnn.Conv2d(16, 32, 3, padding=1),
        tnn.ReLU(),
        tnn.MaxPool2d(2),
        tnn.Flatten(),
        tnn.Linear(32 * 7 * 7, 10),
    )
    if X.dtype == np.float64:
        model.double()
    with torch.no_grad():
        for layer, (kw, kb) in zip(
            (model[0], model[3], model[7]), (("w1", "b1"), ("w2", "b2"), ("w3", "b3"))
        ):
            wt = w[kw].T if kw == "w3" else w[kw]  # torch's Linear weight is (out, in)
            layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(wt)))
            layer.bias.copy_(torch.from_numpy(w[kb]))
    loss_fn = tnn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def epoch():
        for i in range(0, len(X), BATCH):
            opt.zero_grad()
            loss_fn(model(Xt[i : i + BATCH]), yt[i : i + BATCH]).backward()
            opt.step()

    def weights():
        ps = [p.detach().numpy().copy() for p in model.parameters()]
        ps[4] = ps[4].T  # back to (in, out)
        return ps

    return epoch, weights


# --- the naive NumPy loop ---------------------------------------------------------------------


def _im2col_image(xp_n: np.ndarray, h: int, w: int) -> np.ndarray:
    """Columns (C * 9, h * w) of one zero-padded image (C, h + 2, w + 2), tap by tap."""
    c = xp_n.shape[0]
    cols = np.empty((c, 9, h * w), dtype=xp_n.dtype)
    for i in range(3):
        for j in range(3):
            cols[:, i * 3 + j] = xp_n[:, i : i + h, j : j + w].reshape(c, h * w)
    return cols.reshape(c * 9, h * w)


def _conv_forward(x, w, b):
    n, c, h, wd = x.shape
    o = w.shape[0]
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    w2 = w.reshape(o, -1)
    y = np.empty((n, o, h * wd), dtype=x.dtype)
    cols = []
    for k in range(n):  # image by image
        col = _im2col_image(xp[k], h, wd)
        cols.append(col)
        y[k] = w2 @ col + b[:, None]
    return y.reshape(n, o, h, wd), cols


def _conv_backward(gy, x_shape, w, cols, need_x: bool):
    n, c, h, wd = x_shape
    o = w.shape[0]
    w2 = w.reshape(o, -1)
    g = gy.reshape(n, o, h * wd)
    gw = np.zeros_like(w2)
    gxp = np.zeros((n, c, h + 2, wd + 2), dtype=gy.dtype) if need_x else None
    for k in range(n):
        gw += g[k] @ cols[k].T
        if need_x:
            gc = (w2.T @ g[k]).reshape(c, 9, h, wd)
            for i in range(3):
                for j in range(3):
                    gxp[k, :, i : i + h, j : j + wd] += gc[:, i * 3 + j]
    gx = gxp[:, :, 1:-1, 1:-1] if need_x else None
    return gx, gw.reshape(w.shape), g.sum(axis=(0, 2))


def _pool_forward(x):
    n, c, h, w = x.shape
    win = (
        x.reshape(n, c, h // 2, 2, w // 2, 2)
        .transpose(0, 1, 2, 4, 3, 5)
        .reshape(n, c, h // 2, w // 2, 4)
    )
    arg = win.argmax(axis=-1)
    return np.take_along_axis(win, arg[..., None], axis=-1)[..., 0], arg


def _pool_backward(gy, arg, x_shape):
    n, c, h, w = x_shape
    g = (arg[..., None] == np.arange(4)) * gy[..., None]  # (n, c, h/2, w/2, 4)
    return g.reshape(n, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(x_shape)


def setup_naive(X, y, w):
    p = {k: v.copy() for k, v in w.items()}

    def step(xb, yb):
        a1, cols1 = _conv_forward(xb, p["w1"], p["b1"])
        r1 = np.maximum(a1, 0)
        m1, arg1 = _pool_forward(r1)
        a2, cols2 = _conv_forward(m1, p["w2"], p["b2"])
        r2 = np.maximum(a2, 0)
        m2, arg2 = _pool_forward(r2)
        f = m2.reshape(len(xb), -1)
        z = f @ p["w3"] + p["b3"]
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        prob = e / e.sum(axis=1, keepdims=True)
        prob[np.arange(len(yb)), yb] -= 1
        gz = prob / len(yb)
        grads = {"w3": f.T @ gz, "b3": gz.sum(axis=0)}
        gm2 = (gz @ p["w3"].T).reshape(m2.shape)
        ga2 = _pool_backward(gm2, arg2, r2.shape) * (a2 > 0)
        gm1, grads["w2"], grads["b2"] = _conv_backward(ga2, m1.shape, p["w2"], cols2, True)
        ga1 = _pool_backward(gm1, arg1, r1.shape) * (a1 > 0)
        _, grads["w1"], grads["b1"] = _conv_backward(ga1, xb.shape, p["w1"], cols1, False)
        for k, g in grads.items():
            p[k] -= LR * g

    def epoch():
        for xb, yb in batches(X, y):
            step(xb, yb)

    def weights():
        return [p[k] for k in ("w1", "b1", "w2", "b2", "w3", "b3")]

    return epoch, weights


# --- running ----------------------------------------------------------------------------------


def blas_threads() -> int:
    """The threads of NumPy's BLAS (SciPy, loaded by scikit-learn, may bring a second one)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return 1
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    ours = [i for i in blas if "numpy" in i.get("filepath", "")] or blas
    return ours[0]["num_threads"] if ours else 1


def limit_threads(threads: int | None):
    """BLAS limited to ``threads`` (threadpoolctl) for the whole run; None leaves it alone.
    Returns the limiter, which must be kept alive."""
    if threads is None:
        return None
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads, user_api="blas")


def setup(method: str, X, y, w, threads: int | None = None) -> tuple[Callable, Callable]:
    if method == "lanes":
        return setup_deltaprop(X, y, w, compiled=True, lanes=threads or blas_threads())
    if method in ("deltaprop", "compiled"):
        return setup_deltaprop(X, y, w, compiled=method == "compiled")
    if method == "torch":
        # the same cores as NumPy's BLAS (time_rounds sets both again before every epoch)
        return setup_torch(X, y, w, blas_threads())
    return setup_naive(X, y, w)


def check(n: int) -> int:
    """One epoch of each method from the same weights, in float64: every final weight within
    1e-9 of the array's scale of deltaprop's. (In float32 they differ by ~1e-4: with random
    labels the gradients are sums that mostly cancel, so their rounding is large relative to
    them, and a rounding can flip a ReLU or a max-pool choice.) Returns 1 on any mismatch."""
    X, y = make_data(n, np.float64)
    w = init_weights(np.float64)
    ref = None
    status = 0
    for m in METHODS:
        epoch, weights = setup(m, X, y, w)
        epoch()
        ws = weights()
        if ref is None:
            ref = ws
            continue
        err = max(float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-3)) for a, b in zip(ws, ref))
        ok = err < 1e-9
        status |= not ok
        verdict = "ok" if ok else "MISMATCH"
        print(f"{m} vs deltaprop: largest relative weight difference {err:.1e} {verdict}")
    return status


def run_with_threads(threads: int | None, epoch: Callable) -> Callable:
    """``epoch`` run with BLAS limited to ``threads`` and PyTorch given as many (None: NumPy's
    BLAS as it is). The limits are set before the clock starts (see time_rounds)."""

    def run(timed: Callable[[Callable], None]) -> None:
        limiter = limit_threads(threads)
        try:
            if "torch" in sys.modules:
                sys.modules["torch"].set_num_threads(blas_threads())
            timed(epoch)
        finally:
            if limiter is not None:
                limiter.restore_original_limits()

    return run


def time_rounds(epochs: dict[tuple[int | None, str], Callable], repeats: int) -> tuple[dict, dict]:
    """Per (threads, method), the wall-clock and the CPU seconds (all threads) of each timed
    epoch. Every round times one epoch of every method at every thread count in turn, so a
    burst of load from other processes hits all of them alike."""
    import gc

    wall: dict = {k: [] for k in epochs}
    cpu: dict = {k: [] for k in epochs}

    def warm(epoch: Callable) -> None:
        epoch()

    for key, epoch in epochs.items():
        run_with_threads(key[0], epoch)(warm)
    for _ in range(repeats):
        for key, epoch in epochs.items():

            def timed(e: Callable, key=key) -> None:
                gc.collect()
                c0, t0 = time.process_time(), time.perf_counter()
                e()
                wall[key].append(time.perf_counter() - t0)
                cpu[key].append(time.process_time() - c0)

            run_with_threads(key[0], epoch)(timed)
    return wall, cpu


def rss_child(method: str, n: int, threads: int | None) -> None:
    """In a fresh process: RSS growth over the first epoch of ``method`` (printed last)."""
    limiter = limit_threads(threads)  # noqa: F841 - kept alive for the run
    harness.settle_allocator()
    X, y = make_data(n)
    epoch, _ = setup(method, X, y, init_weights(), threads)
    print(harness.rss_first_epoch(epoch))


def parse_threads(text: str | None) -> list[int | None]:
    """``--threads``: None (BLAS as it is), or a comma-separated list of thread counts."""
    if text is None:
        return [None]
    return [int(t) for t in text.split(",")]


def table(
    threads: int | None, methods: list[str], wall: dict, cpu: dict, traced: dict, rss: dict
) -> list[str]:
    """The markdown table of one thread count. ``x torch`` is the ratio of the medians;
    ``per round`` the median of each round's ratio, steadier when the load swings between
    rounds (both methods of a round ran back to back)."""
    med = {m: statistics.median(wall[threads, m]) for m in methods}
    base = med.get("torch")
    lines = [
        "| method | s/epoch | x torch | x torch per round | spread | CPU s/epoch "
        "| traced MB | RSS MB |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for m in methods:
        runs = wall[threads, m]
        ratio = per_round = "n/a"
        if base:
            ratio = f"{med[m] / base:.2f}"
            rounds = [a / b for a, b in zip(runs, wall[threads, "torch"])]
            per_round = f"{statistics.median(rounds):.2f}"
        spread = max(runs) / min(runs) - 1
        tr = "n/a" if traced.get((threads, m)) is None else f"{traced[threads, m]:.1f}"
        rs = "n/a" if rss.get((threads, m)) is None else f"{rss[threads, m]:.1f}"
        c = statistics.median(cpu[threads, m])
        lines.append(
            f"| {m} | {med[m]:.3f} | {ratio} | {per_round} | {spread:.0%} | {c:.3f} | {tr} | {rs} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="512 images, 2 rounds")
    parser.add_argument("--check", action="store_true", help="compare the final weights")
    parser.add_argument("--profile", action="store_true", help="cProfile deltaprop's epoch")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--memory", choices=("both", "tracemalloc", "rss", "none"), default="both")
    parser.add_argument(
        "--threads",
        help="limit BLAS (and so PyTorch) to this many threads; a list such as 1,2 times every "
        "count in every round (one table each)",
    )
    parser.add_argument("--rss-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    n = 512 if args.quick else N_IMAGES
    repeats = 2 if args.quick else args.repeats
    counts = parse_threads(args.threads)
    if args.rss_child:
        rss_child(args.rss_child, n, counts[0])
        return 0
    # machine_lines loads PyTorch and SciPy and sets PyTorch's threads to the core count:
    # print it before the limits and the setups
    lines = report.machine_lines() if not (args.check or args.profile) else []
    harness.settle_allocator()
    X, y = make_data(n)
    w = init_weights()
    if args.check or args.profile:
        limiter = limit_threads(counts[0])  # noqa: F841 - kept alive for the run
        if args.check:
            return check(n)
        epoch, _ = setup("deltaprop", X, y, w)
        epoch()
        prof = cProfile.Profile(time.process_time)
        prof.runcall(epoch)
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        return 0

    print("\n".join(lines))
    methods = []
    epochs: dict[tuple[int | None, str], Callable] = {}
    for m in args.methods:
        try:
            fn = setup(m, X, y, w)[0]
        except ImportError as e:
            print(f"{m}: skipped ({e})")
            continue
        methods.append(m)
        for t in counts:
            # one model per method: every count trains the same one on (lanes: one per count)
            epochs[t, m] = setup(m, X, y, w, t)[0] if m == "lanes" else fn
    print(f"\n{n} images, batch {BATCH}, {repeats} rounds; seconds per epoch (median)")
    wall, cpu = time_rounds(epochs, repeats)
    traced: dict = {}
    rss: dict = {}
    for t, m in epochs:
        if args.memory in ("both", "tracemalloc") and m != "torch":

            def probe(e: Callable, t=t, m=m) -> None:
                traced[t, m] = harness.traced_peak(e)

            run_with_threads(t, epochs[t, m])(probe)
        if args.memory in ("both", "rss"):
            cmd = [sys.executable, __file__, "--rss-child", m]
            cmd += (["--quick"] if args.quick else []) + ([f"--threads={t}"] if t else [])
            rss[t, m] = harness.rss_growth(cmd)
    for t in counts:
        limiter = limit_threads(t)
        threads = blas_threads()
        if limiter is not None:
            limiter.restore_original_limits()
        print(f"\n- BLAS {threads} threads, torch.set_num_threads({threads})\n")
        print("\n".join(table(t, methods, wall, cpu, traced, rss)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
