"""Writing a figure or a page to a path: one check of the folder, one error for a failed write."""

from __future__ import annotations

import os
from collections.abc import Callable

from ..errors import ConfigError


def write_output(path: str | os.PathLike, write: Callable[[str], object]) -> None:
    """Call ``write(path)``; ConfigError naming ``path`` when its folder does not exist or the
    write fails (the OS's reason in the message)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ConfigError(f"path: folder does not exist: {folder}")
    try:
        write(path)
    except OSError as exc:
        raise ConfigError(f"path: cannot write {path}: {exc.strerror or exc}") from None
