"""StallWarning: say so, with the likely cause, when a run is not learning.

A run that ends at chance with exit code 0 looks like a result. This callback watches each
epoch's training accuracy and loss; when for ``patience`` epochs in a row the accuracy stays
at chance or the loss has not fallen by ``min_drop`` from where it started, it sends one line
to ``log``: what it saw, the likely cause (a learning rate too high or too low, dead ReLU
units) and what to try. Once per ``fit``.

Dead units are found without an extra pass: a hidden unit followed by a ReLU that is dead on a
batch gets exactly zero gradient on its bias; a unit whose bias gradient stayed zero over the
last ``window`` batches of the epoch counts as dead (for stochastic descent, on that many rows).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...backend import xp_of
from ...checks import check_int, check_optional, check_real
from ...errors import ConfigError
from ...nn.activation import ReLU
from ...nn.linear import Linear
from ...nn.normalization import BatchNorm1d, LayerNorm
from .base import Callback

DEAD = 0.5  # a layer with more than this fraction of dead units is named
START_BATCHES = 8  # the start loss: the mean of the first batches' losses (before much training)


class StallWarning(Callback):
    """Warn (through ``log``) when training accuracy stays at chance, or the training loss does
    not fall, for ``patience`` consecutive epochs.

    Args:
        patience: epochs in a row that must look stuck before the warning.
        log: receives the warning line (``print`` by default; pass a no-op to silence it).
        chance: the accuracy that counts as chance; None: 1/k for a model with k > 1 outputs,
            0.5 for one output. "At chance" is at most ``chance + 0.1 * (1 - chance)``.
        min_drop: the loss must fall below ``(1 - min_drop)`` x its start (the mean loss of
            the first batches) to count as falling.
        window: the last batches of each epoch whose gradients decide which units are dead.
        show: how a setting is named in the advice (``str``: ``lr``; the CLI: ``--lr``).

    After ``fit``: ``warned`` holds the line sent (or None).
    """

    def __init__(
        self,
        patience: int = 5,
        log: Callable[[str], None] | None = print,
        chance: float | None = None,
        min_drop: float = 0.1,
        window: int = 64,
        show: Callable[[str], str] = str,
    ) -> None:
        self.patience = check_int(patience, "patience")
        if log is not None and not callable(log):
            raise ConfigError(f"log: expected a callable or None, got {type(log).__name__}")
        self.log = log
        self.chance = check_optional(check_real, chance, "chance", minimum=0.0, maximum=1.0)
        self.min_drop = check_real(min_drop, "min_drop", minimum=0.0, maximum=1.0)
        self.window = check_int(window, "window")
        self.show = show
        self.warned: str | None = None

    # --- hooks -------------------------------------------------------------------------------
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.warned = None
        self._losses: list[float] = []
        self._stuck = 0
        self._start: list[float] = []  # the first batches' losses
        self._pairs = _relu_linears(self.model)
        self._alive: dict[str, Any] = {}
        params = getattr(getattr(self.trainer, "history", None), "params", None) or {}
        self._steps = int(params.get("steps") or 0)
        self._descent = params.get("descent")
        self._batch_size = params.get("batch_size")

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._alive = {}

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if len(self._start) < START_BATCHES and logs and "loss" in logs:
            self._start.append(float(logs["loss"]))
        if self.warned is not None or batch < self._steps - self.window:
            return
        for name, layer in self._pairs:
            g = layer.bias.grad
            if g is None:
                continue
            xp = xp_of(g.data)
            active = xp.abs(g.data) > 0
            self._alive[name] = active if name not in self._alive else self._alive[name] | active

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.warned is not None or not logs or "loss" in logs and logs["loss"] != logs["loss"]:
            return
        loss = float(logs["loss"])
        self._losses.append(loss)
        start = sum(self._start) / len(self._start) if self._start else self._losses[0]
        acc = logs.get("accuracy")
        chance = self._chance()
        at_chance = acc is not None and float(acc) <= chance + 0.1 * (1 - chance)
        flat = loss >= (1 - self.min_drop) * start
        self._stuck = self._stuck + 1 if at_chance or flat else 0
        if self._stuck < self.patience:
            return
        first = epoch + 2 - self._stuck
        seen = []
        if at_chance:
            seen.append(f"training accuracy {float(acc):.3f} is at chance ({chance:.3f})")
        if flat:
            seen.append(f"the training loss has not fallen ({start:.4g} at the start, "
                        f"{loss:.4g} now)")  # fmt: skip
        line = (f"the model is not learning: {' and '.join(seen)} for {self._stuck} "
                f"epochs (epochs {first}-{epoch + 1}). {self._cause(start)}")  # fmt: skip
        self.warned = line
        if self.log is not None:
            self.log(line)

    # --- the diagnosis -----------------------------------------------------------------------
    def _chance(self) -> float:
        if self.chance is not None:
            return self.chance
        linears = [m for m in self.model.modules() if isinstance(m, Linear)] if self.model else []
        k = linears[-1].out_features if linears else 1  # weights are (in, out)
        return 1.0 / k if k > 1 else 0.5

    def dead_fractions(self) -> dict[str, float]:
        """Per hidden Linear followed by a ReLU (by module name): the fraction of its units
        whose bias gradient was zero over the last ``window`` batches of the last epoch."""
        return {n: 1.0 - float(a.mean()) for n, a in self._alive.items()}

    def _cause(self, start: float) -> str:
        lr = self.trainer.optimizer.param_groups[0]["lr"]
        where = f"{self.show('lr')} {lr:g}"
        if self._descent:
            mode = self._descent if self._descent != "minibatch" else f"batch {self._batch_size}"
            where += f", {mode} descent"
        dead = {n: f for n, f in self.dead_fractions().items() if f > DEAD}
        tail = self._losses[-self.patience :]
        falling = all(b < a for a, b in zip(tail, tail[1:], strict=False))
        smaller = f"{self.show('lr')} {lr / 10:.3g}"
        if dead:
            desc = ", ".join(f"layer {n}: {f:.0%}" for n, f in dead.items())
            return (f"Likely cause: dead ReLU units ({desc} never active on the last batches), "
                    f"usually from a learning rate too high ({where}). Try {smaller}, or "
                    f"{self.show('activation')} leaky_relu.")  # fmt: skip
        if falling and max(self._losses) <= 1.05 * start:
            return (f"Likely cause: a learning rate too low ({where}): the loss falls slowly. "
                    f"Try {self.show('lr')} {lr * 10:.3g}.")  # fmt: skip
        return (f"Likely cause: a learning rate too high ({where}): the loss does not settle. "
                f"Try {smaller}.")  # fmt: skip


def _relu_linears(model: Any) -> list[tuple[str, Linear]]:
    """(name, Linear) of every Linear with a bias whose output reaches a ReLU before the next
    Linear, in registration order. Not through a normalization: it mixes rows (batch norm
    makes a bias gradient vanish) or units (layer norm), so the bias no longer tells."""
    if model is None:
        return []
    out: list[tuple[str, Linear]] = []
    current: tuple[str, Linear] | None = None
    for name, m in model.named_modules():
        if isinstance(m, Linear):
            current = (name, m) if m.bias is not None else None
        elif isinstance(m, (BatchNorm1d, LayerNorm)):
            current = None
        elif isinstance(m, ReLU) and current is not None:
            out.append(current)
            current = None
    return out
