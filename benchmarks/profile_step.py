"""Where deltaprop's time goes in one SGD step at batch size 1 (64-32-10 MLP, float32).

    python benchmarks/profile_step.py                 # component table (µs per step)
    python benchmarks/profile_step.py --cprofile 25   # plus cProfile's top functions

Three views, each in µs per step:

1. phases of the real loop (forward, backward, update, zero_grad), timed with perf_counter
   around each phase over a whole epoch, next to the hand-written NumPy loop's total;
2. components in isolation, timed with timeit on the step's own shapes: for every op, the NumPy
   arithmetic alone (what a hand-written loop must also pay) and the same op through deltaprop
   (wrapper checks + Function.apply + forward); for backward, the engine's walk minus the ops'
   own backward arithmetic; the optimizer's per-parameter update;
3. optionally cProfile's top functions by own time, rescaled so that their sum matches the
   unprofiled epoch (cProfile inflates cheap, frequent calls: read it for ranking only).

The loop under test uses the engine directly (ops.linear, ops.relu, ops.cross_entropy on
Parameters) and nn.Sequential + optim.SGD.

The code: step_phases.py (view 1), step_components.py (view 2), this file (the epochs, view 3
and the command line); the loops come from the MLP benchmark (hand_loops.py, dp_methods.py).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
import timeit
from collections.abc import Callable

from dp_methods import setup_dp_loop, setup_dp_ops
from hand_loops import setup_hand
from report import machine_lines
from step_components import components
from step_phases import SIZES, phase_times, phase_times_hand, phase_times_nn
from workload import Case, make_data


def epoch_us(setup: Callable, n: int) -> float:
    """µs per step of one epoch of ``setup``'s method (best of 5, after a warm-up epoch)."""
    X, y = make_data(SIZES[0], n)
    case = Case("b1", SIZES, 1, n)
    epoch = setup(case, X, y)
    epoch()
    return min(timeit.repeat(epoch, number=1, repeat=5)) / n * 1e6


def cprofile_top(n_steps: int, top: int) -> None:
    """cProfile's ``top`` functions by own time in the ops loop, rescaled to the unprofiled
    epoch: read it for ranking only (profiling inflates cheap, frequent calls)."""
    X, y = make_data(SIZES[0], n_steps)
    case = Case("b1", SIZES, 1, n_steps)
    epoch = setup_dp_ops(case, X, y)
    epoch()
    t0 = time.perf_counter()
    epoch()
    plain = time.perf_counter() - t0
    pr = cProfile.Profile()
    pr.enable()
    epoch()
    pr.disable()
    st = pstats.Stats(pr)
    total = sum(v[2] for v in st.stats.values())
    scale = plain / total
    print(f"\n## cProfile, own time (tottime) rescaled x{scale:.2f} to the unprofiled epoch\n")
    print("| function | calls/step | µs/step (rescaled) | share |")
    print("|---|--:|--:|--:|")
    items = sorted(st.stats.items(), key=lambda kv: -kv[1][2])[:top]
    for (file, line, func), (_, nc, tt, _, _) in items:
        where = f"{os.path.relpath(file, os.getcwd()) if file.startswith('/') else file}:{line}"
        name = f"{func} ({where})" if line else func
        print(
            f"| {name} | {nc / n_steps:.0f} | {tt * scale / n_steps * 1e6:.2f} | {tt / total:.1%} |"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=16384)
    ap.add_argument(
        "--cprofile", type=int, default=0, metavar="TOP", help="also print cProfile's TOP functions"
    )
    args = ap.parse_args()

    n = args.steps
    print("# deltaprop per-step cost at batch size 1, MLP 64-32-10, float32\n")
    print("\n".join(machine_lines()))
    hand = epoch_us(lambda c, X, y: setup_hand(c, X, y, False), n)
    ops = epoch_us(setup_dp_ops, n)
    print(
        f"\nWhole epoch, µs per step: hand-written NumPy {hand:.1f}, deltaprop ops loop "
        f"{ops:.1f} ({ops / hand:.2f}x)"
    )
    loop = epoch_us(setup_dp_loop, n)
    print(f"deltaprop nn+optim loop {loop:.1f} ({loop / hand:.2f}x)")

    ph = phase_times(n)
    ph_nn = phase_times_nn(n)
    ph_hand = phase_times_hand(n)
    print("\n## Phases of one step (perf_counter around each phase; best of 4 epochs)\n")
    print(
        "Forward includes the loss (for the hand loop: up to softmax probabilities, no loss "
        "value); loop = slicing, range and the clock calls themselves.\n"
    )
    print("| phase | hand-written µs/step | ops loop µs/step | nn + optim.SGD loop µs/step |")
    print("|---|--:|--:|--:|")
    for k in ("zero_grad", "forward", "backward", "update", "loop"):
        other = f"{ph_nn[k]:.1f}" if ph_nn else "n/a"
        print(f"| {k} | {ph_hand[k]:.1f} | {ph[k]:.1f} | {other} |")
    other = f"{sum(ph_nn.values()):.1f}" if ph_nn else "n/a"
    print(f"| total | {sum(ph_hand.values()):.1f} | {sum(ph.values()):.1f} | {other} |")

    print("\n## Components in isolation (timeit, best of 5)\n")
    print("| component | µs/step | measured as |")
    print("|---|--:|---|")
    total = 0.0
    for name, v, how in components():
        print(f"| {name} | {v:.2f} | {how} |")
        if "(reference)" not in name and "(for reference)" not in name:
            total += v
    print(f"| sum of the components | {total:.1f} | |")
    if args.cprofile:
        cprofile_top(n, args.cprofile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
