"""Layer tests on the strict device (see conftest.py)."""

from .conftest import rerun

globals().update(rerun("nn/test_layers.py"))
