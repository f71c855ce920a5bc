"""What a study prints while it runs: one line per finished trial (number, outcome, value,
best so far) and, on a terminal, a progress bar over the trials (tqdm, on stderr)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from .optuna_import import optuna_module
from .storage import budget_used

Log = Callable[[str], None]


class Progress:
    """Prints each trial once, when it has finished, in the order they finish (numbers
    ascending among those found finished together)."""

    def __init__(self, target: int, metric: str, maximize: bool, log: Log | None,
                 bar: bool | None = None) -> None:  # fmt: skip
        self.target, self.metric, self.maximize, self.log = target, metric, maximize, log
        self.seen: set[int] = set()
        self.best: tuple[float, int] | None = None
        self.bar = None
        if log is not None and (sys.stderr.isatty() if bar is None else bar):
            from tqdm import tqdm

            self.bar = tqdm(total=target, desc="trials", unit="trial", file=sys.stderr,
                            leave=False)  # fmt: skip

    def update(self, trials: list[Any]) -> None:
        state = optuna_module().trial.TrialState
        for t in sorted(trials, key=lambda t: t.number):
            if t.number in self.seen or not t.state.is_finished():
                continue
            self.seen.add(t.number)
            if t.state == state.COMPLETE and t.value is not None:
                better = self.best is None or (
                    t.value > self.best[0] if self.maximize else t.value < self.best[0]
                )
                if better:
                    self.best = (t.value, t.number)
            self._print(line(t, self.metric, self.best))
        if self.bar is not None:
            self.bar.n = min(budget_used(trials), self.target)
            self.bar.refresh()

    def _print(self, text: str) -> None:
        if self.log is None:
            return
        if self.bar is not None:
            self.bar.write(text, file=sys.stdout)
        else:
            self.log(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def line(t: Any, metric: str, best: tuple[float, int] | None) -> str:
    """``trial 3  val_accuracy 0.9514  best 0.9722 (trial 1)  [12 epochs, 1.3 s]``, or the
    reason a trial was pruned or failed."""
    state = optuna_module().trial.TrialState
    reason = t.user_attrs.get("reason")
    if t.state == state.COMPLETE:
        what = f"val_{metric} {t.value:.4f}"
    elif t.state == state.PRUNED:
        what = reason or "pruned"
    else:
        what = f"failed: {reason}" if reason else "failed: the worker stopped mid-trial"
    shown = f"  best {best[0]:.4f} (trial {best[1]})" if best else ""
    epochs = t.user_attrs.get("epochs")
    seconds = t.duration.total_seconds() if t.duration is not None else None
    extra = [f"{epochs} epochs"] if epochs is not None else []
    if seconds is not None:
        extra.append(f"{seconds:.1f} s")
    tail = f"  [{', '.join(extra)}]" if extra else ""
    return f"trial {t.number}  {what}{shown}{tail}"
