"""Gradient flow: per-layer gradient and weight norms, activation statistics, dead and
saturated units, non-finite counts, and the first-to-last-layer gradient ratio.

:func:`gradient_flow` runs one forward/backward pass on a probe batch and leaves the model as
it found it (weights, gradients, buffers, train/eval flags). :func:`layer_norms` reads what a
training step already left behind (``.grad``), with no extra pass: the callback
:class:`deltaprop.callbacks.GradientMonitor` uses it.

The layers reported are the model's weight layers, :class:`~deltaprop.nn.Linear` and
:class:`~deltaprop.nn.Conv2d`, by dotted module name (``"0"``, ``"2"``, ``"encoder.1"``,
``"3.block.0"`` inside a :class:`~deltaprop.nn.Residual`), first to last in registration order.
A convolution's units are its channels: its activation statistics are taken per channel over
every position of every row.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import numpy as np

from .. import backend
from ..autograd.tensor import Tensor
from ..errors import ConfigError, ShapeError
from ..nn.activation import ReLU, Sigmoid, Tanh
from ..nn.conv import Conv2d
from ..nn.linear import Linear
from ..nn.losses import get_loss
from ..nn.module import Module
from ..nn.residual import Residual
from ..nn.sequential import Sequential

#: A tanh unit counts as saturated on a row when |a| > TANH_LIMIT; a sigmoid unit when
#: a < SIGMOID_LOW or a > SIGMOID_HIGH.
TANH_LIMIT = 0.99
SIGMOID_LOW, SIGMOID_HIGH = 0.01, 0.99

_ACTIVATIONS = ((ReLU, "relu"), (Sigmoid, "sigmoid"), (Tanh, "tanh"))
#: The layers reported: those with a weight matrix (a kernel is one, per output channel).
WEIGHT_LAYERS = (Linear, Conv2d)


def linear_layers(model: Module) -> list[tuple[str, Module]]:
    """``(dotted name, layer)`` of every Linear and Conv2d in ``model`` (Residual blocks
    included), in registration order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, WEIGHT_LAYERS)]


def norm(array) -> float:
    xp = backend.xp_of(array)
    return float(xp.sqrt(xp.sum(xp.square(array, dtype=np.float64))))


def _nonfinite(*arrays) -> int:
    total = 0
    for a in arrays:
        if a is not None:
            xp = backend.xp_of(a)
            total += int(a.size - xp.count_nonzero(xp.isfinite(a)))
    return total


def layer_norms(model: Module, layers: list[tuple[str, Module]] | None = None) -> dict[str, dict]:
    """Per Linear (and Conv2d) layer, from the parameters' current ``.data`` and ``.grad`` (no
    pass run): ``grad_norm`` (of the weight's gradient; NaN when it has none), ``weight_norm``,
    ``nonfinite_weights`` and ``nonfinite_grads`` (counts over weight and bias)."""
    out: dict[str, dict] = {}
    for name, layer in linear_layers(model) if layers is None else layers:
        w, b = layer.weight, layer.bias
        gw = None if w.grad is None else w.grad.data
        gb = None if b is None or b.grad is None else b.grad.data
        out[name] = {
            "grad_norm": float("nan") if gw is None else norm(gw),
            "weight_norm": norm(w.data),
            "nonfinite_weights": _nonfinite(w.data, None if b is None else b.data),
            "nonfinite_grads": _nonfinite(gw, gb),
        }
    return out


def first_last_ratio(layers: dict[str, dict]) -> float:
    """The first layer's weight-gradient norm over the last layer's (NaN with < 2 layers or a
    zero last norm). Far below 1: vanishing gradients; far above: exploding."""
    norms = [v["grad_norm"] for v in layers.values()]
    if len(norms) < 2 or not norms[-1] or not np.isfinite(norms[-1]):
        return float("nan")
    return float(norms[0] / norms[-1])


def _run(layer: Module, h: Tensor, seen: Any) -> Tensor:
    """``layer(h)`` one leaf layer at a time, each output passed to ``seen(layer, out)``:
    through Sequentials, and into Residual blocks (block, shortcut, then their sum, as
    Residual.forward does) so that the layers inside a skip connection get their statistics."""
    if isinstance(layer, Sequential):
        for sub in layer:
            h = _run(sub, h, seen)
        return h
    if isinstance(layer, Residual):
        y = _run(layer.block, h, seen)
        s = h if layer.shortcut is None else _run(layer.shortcut, h, seen)
        if y.shape != s.shape:
            raise ShapeError(layer._mismatch(h.shape, y.shape, s.shape))
        return y + s
    out = layer(h)
    seen(layer, out)
    return out


def activation_stats(out, kind: str | None, saturated_rows: float) -> dict[str, Any]:
    """Statistics of one layer's output ``out`` (rows x units, or images (N, C, H, W) whose
    units are the C channels) after its activation ``kind`` ("relu", "sigmoid", "tanh" or
    None: the layer's own output)."""
    xp = backend.xp_of(out)
    if out.ndim == 4:  # channels are the units: every position of every row is a sample
        out = xp.moveaxis(out, 1, -1)
    a = out.reshape(-1, out.shape[-1]) if out.ndim != 2 else out
    stats: dict[str, Any] = {
        "activation": kind,
        "act_mean": float(xp.mean(a, dtype=np.float64)),
        "act_std": float(xp.std(a, dtype=np.float64)),
        "dead_fraction": None,
        "saturated_fraction": None,
    }
    if kind == "relu":
        stats["dead_fraction"] = float(xp.mean(xp.all(a <= 0, axis=0)))
    elif kind in ("sigmoid", "tanh"):
        sat = xp.abs(a) > TANH_LIMIT if kind == "tanh" else (a < SIGMOID_LOW) | (a > SIGMOID_HIGH)
        stats["saturated_fraction"] = float(xp.mean(xp.mean(sat, axis=0) >= saturated_rows))
    return stats


def gradient_flow(
    model: Module, X, y, loss: Any, *, mode: str = "eval", saturated_rows: float = 0.9
) -> dict[str, Any]:
    """One forward/backward pass on the batch ``(X, y)``; per-layer gradient-flow figures.

    Nothing about the model changes: weights are not stepped, every parameter's ``.grad`` is
    put back as it was, buffers (batch-norm running statistics) are restored, and every
    module's train/eval flag is restored. (With ``mode="train"``, dropout draws from
    deltaprop's generator, which then has advanced.)

    Args:
        model: a Module. For an :class:`~deltaprop.nn.Sequential` (nested ones are flattened)
            the pass runs layer by layer and activation statistics are reported; for other
            models only the parameter figures are.
        X, y: a batch of inputs and targets, as the loss takes them.
        loss: a Loss module, a loss name ("cross_entropy", "mse", ...) or a callable
            ``loss(prediction, target) -> scalar Tensor``.
        mode: "eval" (default: no dropout, batch norm on running statistics) or "train".
        saturated_rows: a sigmoid/tanh unit is *saturated* when, on at least this fraction of
            the batch's rows, its output is saturated: ``|tanh| > 0.99``, or ``sigmoid < 0.01``
            or ``> 0.99``. Default 0.9.

    Returns:
        ``{"loss": float, "first_last_ratio": float, "layers": {name: {...}}}`` where each
        Linear (and Conv2d) layer's dict holds ``grad_norm`` (L2 norm of the weight's
        gradient), ``bias_grad_norm``, ``weight_norm``, ``nonfinite_weights``,
        ``nonfinite_grads`` and, for Sequential models (Residual blocks in them included),
        ``activation`` (the first ReLU/Sigmoid/Tanh after the layer and before the next
        weight layer, or None), ``act_mean``/``act_std`` (over all rows and units of the output
        after that activation; of the layer's own output when there is none),
        ``dead_fraction`` (ReLU only: the fraction of units that are zero on every row of the
        batch) and ``saturated_fraction`` (sigmoid/tanh only; see ``saturated_rows``); the
        figures that do not apply are None.
    """
    if not isinstance(model, Module):
        raise ConfigError(f"model: expected a deltaprop Module, got {type(model).__name__}")
    if mode not in ("eval", "train"):
        raise ConfigError(f"mode: expected 'eval' or 'train', got {mode!r}")
    ok = isinstance(saturated_rows, (int, float)) and not isinstance(saturated_rows, bool)
    if not ok or not 0 < saturated_rows <= 1:
        raise ConfigError(f"saturated_rows: expected a number in (0, 1], got {saturated_rows!r}")
    if isinstance(loss, str):
        loss = get_loss(loss)
    if not callable(loss):
        raise ConfigError(f"loss: expected a loss Module, name or callable, got {loss!r}")
    layers = linear_layers(model)
    if not layers:
        raise ConfigError(
            f"model: {type(model).__name__} has no Linear or Conv2d layer to report on"
        )
    params = model.parameters()
    dtype, xp = params[0].data.dtype, backend.xp_of(params[0].data)
    try:
        xb = xp.asarray(X.data if isinstance(X, Tensor) else X, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"X: expected a numeric array, got {type(X).__name__}: {exc}") from None
    if xb.ndim < 1 or xb.shape[0] == 0:
        raise ConfigError(f"X: expected a non-empty batch, got shape {xb.shape}")
    target = y.data if isinstance(y, Tensor) else xp.asarray(y)
    if target.shape[:1] != xb.shape[:1]:
        raise ConfigError(f"y: expected {xb.shape[0]} rows like X, got shape {target.shape}")

    saved_grads = [p.grad for p in params]
    stack = ExitStack()
    saved_buffers = [(b, b.data.copy()) for _, b in model.named_buffers()]
    outputs: dict[str, tuple[Any, str | None]] = {}
    try:
        stack.enter_context(model.training_mode(mode == "train"))
        for p in params:
            p.grad = None
        h = Tensor._wrap(xb)
        if isinstance(model, Sequential):
            names = {id(m): n for n, m in layers}
            current: list[Any] = [None]  # the name of the weight layer whose block we are in

            def seen(layer: Module, out: Tensor) -> None:
                if isinstance(layer, WEIGHT_LAYERS):
                    current[0] = names.get(id(layer))
                    outputs[current[0]] = (out.data, None)
                elif current[0] is not None and outputs[current[0]][1] is None:
                    for cls, kind in _ACTIVATIONS:
                        if isinstance(layer, cls):
                            outputs[current[0]] = (out.data, kind)
                            break

            h = _run(model, h, seen)
        else:
            h = model(h)
        value = loss(h, target)
        value.backward()
        report = layer_norms(model, layers)
        for name, layer in layers:
            b = layer.bias
            gb = None if b is None or b.grad is None else b.grad.data
            report[name]["bias_grad_norm"] = None if gb is None else norm(gb)
            if name in outputs:
                out, kind = outputs[name]
                report[name].update(activation_stats(out, kind, saturated_rows))
            else:
                report[name].update(
                    activation=None, act_mean=None, act_std=None, dead_fraction=None,
                    saturated_fraction=None,
                )  # fmt: skip
        result = {
            "loss": float(value.data),
            "first_last_ratio": first_last_ratio(report),
            "layers": report,
        }
    finally:
        for p, g in zip(params, saved_grads, strict=True):
            p.grad = g
        stack.close()  # each module's own train/eval flag back
        for b, data in saved_buffers:
            b.data[...] = data
    return result
