"""The engine's tests on the strict device (see conftest.py)."""

from .conftest import rerun

globals().update(rerun("autograd/test_engine.py"))
