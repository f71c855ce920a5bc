"""The one channel for what deltaprop tells its user outside the results: warnings and notes.

- :func:`warn` is for something the user should know about their run (a split that cannot be
  stratified, a target that looks like a class label): a Python warning of category
  :class:`DeltapropWarning` (a UserWarning), so library users filter, catch and test it the
  usual way (``warnings.simplefilter``, ``pytest.warns``).
- :func:`note` is for a line a callback prints about what it did (EarlyStopping stopped and
  restored epoch 7): printed to stdout unless silenced.
- :func:`quiet` silences both inside a ``with`` block (``deltaprop train --quiet``,
  ``cross_validate(..., verbose=False)``).
- :func:`terminal_warnings` is for the command line: every warning becomes one line
  ``deltaprop: warning: ...`` on stderr, never Python's text with a file name and source line.

Nothing here imports the rest of deltaprop, so every layer may use it.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

__all__ = ["DeltapropWarning", "is_quiet", "note", "quiet", "terminal_warnings", "warn"]

# How many ``quiet()`` blocks are open; a counter (not a flag) so that nested blocks work.
_quiet_depth = 0


class DeltapropWarning(UserWarning):
    """A warning deltaprop gives about the user's data or settings."""


def warn(message: str, stacklevel: int = 2) -> None:
    """Warn the user: ``message`` as a :class:`DeltapropWarning` (silenced by :func:`quiet`).

    ``stacklevel`` counts as for ``warnings.warn`` from the caller of this function (2: the
    line that called the caller)."""
    if _quiet_depth:
        return
    warnings.warn(message, DeltapropWarning, stacklevel=stacklevel + 1)


def note(message: str) -> None:
    """Print an informational line (a callback's report) unless inside :func:`quiet`."""
    if not _quiet_depth:
        print(message, flush=True)


def is_quiet() -> bool:
    """True inside a :func:`quiet` block."""
    return _quiet_depth > 0


@contextmanager
def quiet(enabled: bool = True, all_warnings: bool = False) -> Iterator[None]:
    """Silence :func:`warn` and :func:`note` (and DeltapropWarnings from anywhere) in the block;
    ``quiet(False)`` changes nothing (so callers can write ``with quiet(not verbose):``).
    ``all_warnings`` silences every Python warning too (scikit-learn's, NumPy's): the
    command line's ``--quiet``."""
    global _quiet_depth
    if not enabled:
        yield
        return
    _quiet_depth += 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Warning if all_warnings else DeltapropWarning)
            yield
    finally:
        _quiet_depth -= 1


@contextmanager
def terminal_warnings(stream: TextIO | None = None) -> Iterator[None]:
    """Show every warning raised in the block as one line ``deltaprop: warning: MESSAGE`` on
    ``stream`` (default: stderr), once per message, without Python's file name and source line
    (which point into deltaprop or scikit-learn, not at anything the user wrote)."""
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # each distinct message once, as Python does

        def show(message: Any, category: Any, filename: str, lineno: int,
                 file: Any = None, line: Any = None) -> None:  # fmt: skip
            out = stream if stream is not None else sys.stderr
            print(f"deltaprop: warning: {message}", file=out, flush=True)

        warnings.showwarning = show
        yield
