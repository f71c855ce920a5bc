"""The methods the MLP benchmark times, by key: (column label, setup).

A method is ``setup(case, X, y) -> epoch``: setup builds the model from the shared initial
weights (``workload.init_weights``) for X (n, d) float32 and y (n,) int64; ``epoch()`` trains
one epoch (one shuffled copy of X and y, then contiguous slices of ``case.batch`` rows) and
``epoch.weights()`` lists the trained arrays as (W (in, out), b) pairs, then batch norm's
(gamma, beta) and (running mean, running variance). A setup raises ``workload.Unavailable``
when a package is missing and ``workload.NotApplicable`` when the method has no such case.
"""

from __future__ import annotations

from dp_methods import setup_dp_fit, setup_dp_loop, setup_dp_ops
from hand_loops import setup_hand
from libraries import setup_sklearn, setup_torch

METHODS = {
    "fit": ("deltaprop fit", setup_dp_fit),
    "loop": ("deltaprop loop", setup_dp_loop),
    "ops": ("deltaprop ops", setup_dp_ops),
    "hand_bk": ("hand+bk", lambda c, X, y: setup_hand(c, X, y, True)),
    "hand": ("hand", lambda c, X, y: setup_hand(c, X, y, False)),
    "torch": ("torch", setup_torch),
    "sklearn": ("sklearn", setup_sklearn),
}
# The ratio columns: (method, the method it is divided by).
RATIOS = [
    ("fit", "hand_bk"),
    ("loop", "hand"),
    ("ops", "hand"),
    ("torch", "hand"),
    ("sklearn", "hand"),
]
