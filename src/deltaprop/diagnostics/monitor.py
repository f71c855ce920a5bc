"""GradientMonitor: per-layer gradient norm, weight norm and update-to-weight ratio over
training, kept in the History, with a text table and series for plotting.

By default it records once per epoch, at ``on_epoch_end``, from the gradients the epoch's last
step left in ``.grad`` and one copy of the Linear (and Conv2d) weights taken at
``on_epoch_begin``: nothing runs per step. With ``every_n_steps`` it records after every n-th
step instead, with the exact update of that step. With probe data ``X, y`` it also runs
:func:`deltaprop.diagnostics.gradflow.gradient_flow` on the probe at each record (one extra
forward/backward) for activation statistics, dead ReLUs and saturated units.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..checks import check_int, check_optional
from ..errors import ConfigError
from ..train.callbacks.base import Callback
from .gradflow import first_last_ratio, gradient_flow, layer_norms, linear_layers, norm

_STATS = ("grad_norm", "weight_norm", "update_ratio")
_COLUMNS = (
    ("grad_norm", "grad norm"),
    ("weight_norm", "weight norm"),
    ("update_ratio", "update/weight"),
    ("act_mean", "act mean"),
    ("act_std", "act std"),
    ("dead_fraction", "dead"),
    ("saturated_fraction", "saturated"),
    ("nonfinite_grads", "nonfinite g"),
    ("nonfinite_weights", "nonfinite w"),
)


class GradientMonitor(Callback):
    """Records gradient flow per Linear (and Conv2d) layer during :meth:`Trainer.fit`, those
    inside Residual blocks included (named ``"3.block.0"``).

    Args:
        every_n_steps: None (default): one record per epoch, at its end, from the last step's
            gradients; ``update_ratio`` is then ``||W_end - W_begin|| / steps / ||W_end||``
            (the epoch's mean step size relative to the weight). A positive int n: one record
            after every n-th step (counted over the whole run), with the exact step:
            ``||W_after - W_before|| / ||W_after||``.
        X, y: optional probe batch; when given, each record also holds the activation
            statistics of :func:`~deltaprop.diagnostics.gradflow.gradient_flow` on it (an
            extra forward/backward per record; the model is left unchanged).

    Where the figures go:
        ``monitor.records``: every record, ``{"epoch", "step", "first_last_ratio",
        "layers": {layer: {stat: value}}}`` (``step`` is None for epoch-end records).
        ``history.history["gradient_flow"]``: per epoch, that epoch's last record; and flat
        per-epoch lists ``history.history["grad_norm/<layer>"]`` (also ``weight_norm/`` and
        ``update_ratio/``). These are written to the History directly, not to the epoch's
        ``logs``, so printed lines and CSV files stay as they were.
    """

    def __init__(self, every_n_steps: int | None = None, X: Any = None, y: Any = None) -> None:
        every_n_steps = check_optional(check_int, every_n_steps, "every_n_steps")
        if (X is None) != (y is None):
            missing = "y" if y is None else "X"
            raise ConfigError(f"{missing}: the probe needs both X and y (or neither)")
        if X is not None and (not hasattr(X, "shape") or not hasattr(y, "shape")):
            bad = "X" if not hasattr(X, "shape") else "y"
            raise ConfigError(f"{bad}: expected an array, got {type(X if bad == 'X' else y)}")
        if X is not None and X.shape[:1] != y.shape[:1]:
            raise ConfigError(f"y: expected {X.shape[0]} rows like X, got shape {y.shape}")
        self.every_n_steps = every_n_steps
        self.X = X
        self.y = y
        self.records: list[dict[str, Any]] = []
        self._layers: list = []
        self._before: list = []
        self._steps = 0
        self._global_step = 0
        self._epoch = 0

    # --- hooks -------------------------------------------------------------------------------
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:

        self.records = []
        self._global_step = 0
        self._layers = linear_layers(self.model)
        self._before = [layer.weight.data.copy() for _, layer in self._layers]

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch
        self._steps = 0
        if self.every_n_steps is None:
            for saved, (_, layer) in zip(self._before, self._layers, strict=True):
                saved[...] = layer.weight.data

    def on_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        n = self.every_n_steps
        if n is not None and (self._global_step + 1) % n == 0:
            for saved, (_, layer) in zip(self._before, self._layers, strict=True):
                saved[...] = layer.weight.data

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._steps += 1
        self._global_step += 1
        n = self.every_n_steps
        if n is not None and self._global_step % n == 0:
            self.records.append(self._record(steps=1, step=self._global_step))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.every_n_steps is None:
            if self._steps == 0:
                return
            self.records.append(self._record(steps=self._steps, step=None))
        history = None if self.trainer is None else getattr(self.trainer, "history", None)
        if history is None or not self.records:
            return
        last = self.records[-1]
        history.history.setdefault("gradient_flow", []).append(last)
        for name, stats in last["layers"].items():
            for key in _STATS:
                history.history.setdefault(f"{key}/{name}", []).append(stats[key])

    # --- one record --------------------------------------------------------------------------
    def _record(self, steps: int, step: int | None) -> dict[str, Any]:

        layers = layer_norms(self.model, self._layers)
        for saved, (name, layer) in zip(self._before, self._layers, strict=True):
            stats = layers[name]
            w = layer.weight.data
            moved = norm(w - saved) / steps
            stats["update_ratio"] = (
                moved / stats["weight_norm"]
                if stats["weight_norm"]
                else (math.inf if moved else 0.0)
            )
        record = {
            "epoch": self._epoch,
            "step": step,
            "first_last_ratio": first_last_ratio(layers),
            "layers": layers,
        }
        if self.X is not None:
            probe = gradient_flow(self.model, self.X, self.y, self.trainer.loss)
            record["probe_loss"] = probe["loss"]
            record["probe_first_last_ratio"] = probe["first_last_ratio"]
            for name, stats in probe["layers"].items():
                for key in ("activation", "act_mean", "act_std", "dead_fraction",
                            "saturated_fraction"):  # fmt: skip
                    layers[name][key] = stats[key]
                layers[name]["probe_grad_norm"] = stats["grad_norm"]
        return record

    # --- reading -----------------------------------------------------------------------------
    def series(self, key: str = "grad_norm") -> dict[str, list]:
        """``{layer: [value per record]}`` for one statistic (``"grad_norm"``,
        ``"weight_norm"``, ``"update_ratio"``, ``"act_std"``, ...), in layer order: the input
        of :func:`deltaprop.viz.plot_gradient_flow`. ``"first_last_ratio"`` gives
        ``{"first/last": [...]}``."""
        if not isinstance(key, str):
            raise ConfigError(f"key: expected a statistic name, got {key!r}")
        if key == "first_last_ratio":
            return {"first/last": [r["first_last_ratio"] for r in self.records]}
        if not self.records:
            return {}
        first = next(iter(self.records[0]["layers"].values()))
        if key not in first:
            raise ConfigError(f"key: expected one of {sorted(first)}, got {key!r}")
        names = list(self.records[0]["layers"])
        return {n: [r["layers"][n].get(key) for r in self.records] for n in names}

    def table(self) -> str:
        """A text table of the last record, one row per Linear or Conv2d layer (first to
        last)."""
        if not self.records:
            return "GradientMonitor: nothing recorded yet"
        last = self.records[-1]
        rows = last["layers"]
        columns = [(k, t) for k, t in _COLUMNS if any(v.get(k) is not None for v in rows.values())]
        width = max(5, *(len(n) for n in rows))
        head = f"{'layer':<{width}}" + "".join(f"  {t:>13}" for _, t in columns)
        lines = [head, "-" * len(head)]
        for name, stats in rows.items():
            cells = "".join(f"  {_cell(stats.get(k)):>13}" for k, _ in columns)
            lines.append(f"{name:<{width}}{cells}")
        when = f"epoch {last['epoch'] + 1}" + (
            "" if last["step"] is None else f", step {last['step']}"
        )
        lines.append(f"first/last gradient ratio: {_cell(last['first_last_ratio'])} ({when})")
        return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    return f"{float(value):.3e}"
