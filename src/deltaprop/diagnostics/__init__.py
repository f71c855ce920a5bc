"""Gradient health and cost demos.

``memo``: the chain rule path by path against reverse mode (multiplication counts, naive
gradients checked against the engine's, timings) and the memory/time trade of gradient
checkpointing (:class:`deltaprop.nn.Checkpointed`).
"""

from . import memo, recompute  # noqa: F401
from .doctor import Remedy, Verdict, diagnose  # noqa: F401
from .gradflow import gradient_flow  # noqa: F401
from .initcheck import init_check  # noqa: F401
from .monitor import GradientMonitor  # noqa: F401
