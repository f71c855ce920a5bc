"""Thread-local modes, each a context manager: grad recording and debug (NaN checks per op)."""

from __future__ import annotations

import threading
from contextlib import contextmanager


class _State(threading.local):
    def __init__(self) -> None:
        self.grad_enabled = True
        self.debug = False


state = _State()


def is_grad_enabled() -> bool:
    return state.grad_enabled


@contextmanager
def no_grad():
    """Record no graph inside the block (inference, parameter updates)."""
    prev = state.grad_enabled
    state.grad_enabled = False
    try:
        yield
    finally:
        state.grad_enabled = prev


@contextmanager
def enable_grad():
    """Record the graph again inside a ``no_grad`` block."""
    prev = state.grad_enabled
    state.grad_enabled = True
    try:
        yield
    finally:
        state.grad_enabled = prev


@contextmanager
def debug_mode(enabled: bool = True):
    """Check every op's output (forward) and gradient (backward) for NaN/Inf and name the op."""
    prev = state.debug
    state.debug = enabled
    try:
        yield
    finally:
        state.debug = prev
