"""Trainer tests on the strict device (see conftest.py)."""

from .conftest import rerun

globals().update(rerun("train/test_trainer.py"))
