"""Optimizer and clipping tests on the strict device (see conftest.py)."""

from .conftest import rerun

globals().update(rerun("optim/test_sgd.py"))
globals().update(rerun("optim/test_clip.py"))
