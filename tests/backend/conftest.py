"""Existing tests re-run with every tensor on the strict device (:mod:`deltaprop.
strict_backend`): CuPy's refusals on NumPy. A test fails when deltaprop's code converts a
strict array to NumPy or mixes one with a NumPy array, even where the TypeError was caught
(every refusal is recorded). The tests themselves may convert results to compare them
(``strict_backend.LIBRARY_ONLY``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from deltaprop import backend, strict_backend

TESTS = Path(__file__).resolve().parents[1]


#: Tests left out, and why: each puts host arrays into the engine itself (``p.grad =
#: Tensor._wrap(ndarray)``, ``train_step`` on raw NumPy batches, which it documents must
#: already be on the model's device), so they would test the test, not deltaprop.
HOST_ARRAYS_BY_HAND = {
    "test_clip_grad_value_by_hand",
    "test_clip_grad_value_matches_torch",
    "test_float32_stays_float32_in_place_and_model_parameters_work",
    "test_train_step_refuses_a_nan_loss_without_stepping",
}


def rerun(relative: str) -> dict:
    """The test functions of ``tests/<relative>`` (but :data:`HOST_ARRAYS_BY_HAND`), to
    re-export from a module here so that pytest collects them again on the strict device."""
    path = TESTS / relative
    spec = importlib.util.spec_from_file_location(f"strict_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    chosen = [n for n in vars(module) if n.startswith("test_") and n not in HOST_ARRAYS_BY_HAND]
    return {name: getattr(module, name) for name in chosen}


@pytest.fixture(autouse=True)
def strict_device(monkeypatch):
    monkeypatch.setattr(strict_backend, "LIBRARY_ONLY", True)
    strict_backend.VIOLATIONS.clear()
    backend.set_default_device("strict")
    try:
        yield
    finally:
        backend.set_default_device(None)
    assert not strict_backend.VIOLATIONS, strict_backend.VIOLATIONS[0]
