"""What ``fit`` prints: one line per logged epoch, and a progress bar for long epochs."""

from __future__ import annotations

import sys
from typing import Any

PROGRESS_MIN_BATCHES = 200  # fewer batches per epoch finish too fast for a bar to help


def is_terminal() -> bool:
    try:
        return sys.stdout.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def progress(batches, steps, epoch, epochs):
    from tqdm import tqdm

    return tqdm(batches, total=steps, leave=False, desc=f"epoch {epoch + 1}/{epochs}")


def format_line(epoch: int, epochs: int, logs: dict[str, Any]) -> str:
    parts = [f"epoch {epoch + 1}/{epochs}"]
    for key, value in logs.items():
        if key == "lr":
            parts.append(f"lr {value:.3g}")
        elif key != "epoch_seconds":
            number = isinstance(value, (int, float))
            parts.append(f"{key} {value:.4f}" if number else f"{key} {value}")
    parts.append(f"{logs['epoch_seconds']:.2f}s")
    return "  ".join(parts)
