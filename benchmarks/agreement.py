"""``--check``: every method, from the same weights on the same batches, must end one epoch with
the weights of the first method it is given (the hand-written loop), and fit's loss and
accuracy must equal hand+bk's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import libraries
import numpy as np
from competitors import METHODS
from workload import Case, NotApplicable, Unavailable, make_data


def check(cases: Sequence[Case], methods: Sequence[str]) -> int:
    """One epoch of each method from the same weights on the same batches: the final weights
    must agree with the hand-written loop's (sklearn has its own init and order: not compared).
    With dropout, every method uses the same masks (PyTorch through a stand-in layer); with
    batch norm, its weight, bias and running statistics are compared too. Tolerance: 1e-4 of
    each array's scale (1e-3 for PyTorch's Adam, see below). Returns 1 on any mismatch, else 0."""
    libraries.TORCH_NUMPY_MASKS = True
    status = 0
    for case in cases:
        small = replace(case, n=512 if case.batch > 1 else 256)
        X, y = make_data(case.sizes[0], small.n)
        ref = None
        metrics = {}
        for m in methods:
            if m == "sklearn":
                continue
            try:
                epoch = METHODS[m][1](small, X, y)
            except (Unavailable, NotApplicable) as e:
                print(f"{case.name} {m}: skipped ({e})")
                continue
            out = epoch()
            if m == "hand_bk":
                metrics[m] = out
            elif m == "fit":
                h = out.history
                metrics[m] = (h["loss"][0], h["accuracy"][0])
            ws = [np.asarray(a, dtype=np.float64) for pair in epoch.weights() for a in pair]
            if ref is None:
                ref, ref_name = ws, m
                continue
            # Relative to each array's largest entry, or to 1e-3 when all its entries are
            # smaller: the Linear biases in front of a batch norm have a gradient of 0 up to
            # rounding, and hold only rounding noise (~1e-10) after the epoch.
            err = max(
                float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-3)) for a, b in zip(ws, ref)
            )
            # The NumPy methods share their arithmetic (bit-identical results); PyTorch's
            # differs in rounding, which Adam magnifies where a gradient entry is near 0: its
            # first step is lr * g / (|g| + eps), so a g of ~1e-8 (eps-sized) moves by a
            # rounding-dependent fraction of lr (~6e-5 here, one weight in ~10^5).
            tol = 1e-3 if m == "torch" and case.optimizer == "adam" else 1e-4
            ok = err < tol
            status |= not ok
            print(
                f"{case.name} {m} vs {ref_name}: max rel. weight difference {err:.2e} "
                f"{'ok' if ok else 'MISMATCH'}"
            )
        if len(metrics) == 2:
            (l1, a1), (l2, a2) = metrics["fit"], metrics["hand_bk"]
            ok = abs(l1 - l2) <= 1e-5 * abs(l2) and a1 == a2
            status |= not ok
            print(
                f"{case.name} fit (loss {l1:.6f}, accuracy {a1:.4f}) vs hand_bk (loss "
                f"{l2:.6f}, accuracy {a2:.4f}) {'ok' if ok else 'MISMATCH'}"
            )
    return status
