"""Writing a figure or a page to a path: one check of the folder, one error for a failed write.

Outputs are rendered in memory first and written with :func:`deltaprop.io.atomic_write`, so a
crash, a full disk or a failed render never leaves a half-written PNG or page at ``path`` (an
existing file stays as it was).
"""

from __future__ import annotations

import io as _io
import os
from collections.abc import Callable

from ..errors import ConfigError, ModelFileError
from ..io import atomic_write


def write_output(path: str | os.PathLike, render: Callable[[], bytes]) -> None:
    """Write the bytes ``render()`` returns to ``path``, atomically; ConfigError naming
    ``path`` when its folder does not exist or the write fails (the OS's reason in the
    message). ``render`` runs only after the folder check."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ConfigError(f"path: folder does not exist: {folder}")
    data = render()
    try:
        atomic_write(path, data)
    except ModelFileError as exc:  # atomic_write speaks of files; here the file is an output
        raise ConfigError(f"path: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"path: cannot write {path}: {exc.strerror or exc}") from None


def figure_png(fig, dpi: int | None = 100) -> bytes:
    """A matplotlib Figure rendered as PNG bytes (nothing touches the disk)."""
    buffer = _io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
