"""The dense layer's input gradient dx = g W^T two ways, one BLAS thread: ``g @ W.T`` against
``(W @ g.T).T`` copied into rows, the form :func:`deltaprop.ops.linalg.dx_by_transpose` picks
where it is faster. Prints, per layer shape (in, out) and batch rows, the second form's time
over the first's (under 1.00: faster) and whether the rule picks it ("*").

    python benchmarks/dx.py                 # float32, the shapes of BENCHMARKS.md
    python benchmarks/dx.py --dtype float64
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import timeit  # noqa: E402

import numpy as np  # noqa: E402

from deltaprop.ops.linalg import dx_by_transpose  # noqa: E402

SHAPES = [(128, 64), (256, 128), (128, 256), (512, 256), (784, 256), (256, 512), (512, 512),
          (784, 1024), (1024, 1024), (2048, 2048), (1024, 10)]  # fmt: skip
ROWS = [2, 8, 32, 64, 128, 256]


def ratio(n: int, k: int, m: int, dtype: np.dtype, rng: np.random.Generator) -> float:
    w = rng.standard_normal((k, m)).astype(dtype)
    g = rng.standard_normal((n, m)).astype(dtype)
    gx, gxt = np.empty((n, k), dtype), np.empty((k, n), dtype)
    number = max(1, int(1e8 // (2 * n * k * m)))

    def plain():
        np.dot(g, w.T, out=gx)

    def by_transpose():
        np.copyto(gx, np.dot(w, g.T, out=gxt).T)

    a = min(timeit.repeat(plain, number=number, repeat=7))
    b = min(timeit.repeat(by_transpose, number=number, repeat=7))
    return b / a


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = ap.parse_args()
    dtype = np.dtype(args.dtype)
    rng = np.random.default_rng(0)
    print(f"(W g^T)^T + copy over g W^T, {args.dtype}, one BLAS thread; * = the rule picks it")
    print(f"{'layer (in, out)':>16}  " + "  ".join(f"{n:>6}" for n in ROWS))
    for k, m in SHAPES:
        cells = []
        for n in ROWS:
            mark = "*" if dx_by_transpose(n, k, m, dtype) else " "
            cells.append(f"{ratio(n, k, m, dtype, rng):>5.2f}{mark}")
        print(f"{f'({k}, {m})':>16}  " + "  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
