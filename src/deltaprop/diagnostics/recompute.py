"""Recompute for memory: what recomputing in backward (gradient checkpointing,
:class:`deltaprop.nn.Checkpointed`) saves in memory and costs in time, measured on a deep MLP."""

from __future__ import annotations

import gc
import math
import tracemalloc
from typing import Any

import numpy as np

from .. import nn
from ..autograd.tensor import Tensor
from ..checks import check_int
from ..nn.recompute import checkpoint_sequential
from .timing import best_time


def checkpoint_tradeoff(
    depth: int = 32,
    width: int = 512,
    batch: int = 256,
    segments: int | None = None,
    repeats: int = 2,
    seed: int = 0,
) -> dict[str, Any]:
    """Memory and time of a deep ReLU MLP with and without :class:`~deltaprop.nn.Checkpointed`.

    ``depth`` Linear(width, width) + ReLU layers, float32, loss ``mean(y^2)``; the checkpointed
    model splits the same layers (shared parameters) into ``segments`` Checkpointed chunks
    (default round(sqrt(depth))). Returned numbers: ``held_*`` = bytes allocated by forward and
    still held when backward starts (the saved activations), ``peak_*`` = tracemalloc peak of
    forward + backward over the memory before it (the .grad buffers already exist, from a first
    step, as in a training loop that keeps them; freshly allocated weight gradients would add
    the same 4 * depth * width^2 bytes to both), ``time_*`` = best wall seconds of forward +
    backward (without tracemalloc), ``grads_equal`` (first step, bit for bit),
    ``memory_saving`` = 1 - peak ratio, ``slowdown`` = time ratio.
    """
    depth = check_int(depth, "depth")
    width = check_int(width, "width")
    batch = check_int(batch, "batch")
    segments = max(1, round(math.sqrt(depth))) if segments is None else segments
    rng = np.random.default_rng(seed)
    layers: list = []
    for _ in range(depth):
        layers += [nn.Linear(width, width, init="he", dtype="float32", generator=rng), nn.ReLU()]
    plain = nn.Sequential(*layers)
    checkpointed = checkpoint_sequential(layers, segments)
    x = Tensor(rng.normal(size=(batch, width)).astype(np.float32))

    def step(model) -> None:
        y = model(x)
        (y * y).mean().backward()

    results: dict[str, Any] = {"depth": depth, "width": width, "batch": batch,
                               "segments": segments}  # fmt: skip
    grads = {}
    for name, model in (("plain", plain), ("checkpointed", checkpointed)):
        # One step first: its gradients are compared, and it allocates the .grad buffers, so
        # the measured step (which accumulates into them, as in training that keeps them)
        # counts the activations and temporaries, not the weight gradients themselves.
        model.zero_grad()
        step(model)
        grads[name] = [p.grad.numpy().copy() for p in plain.parameters()]
        gc.collect()
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            y = model(x)
            held = tracemalloc.get_traced_memory()[0] - base
            (y * y).mean().backward()
            del y
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        results[f"held_{name}"] = held
        results[f"peak_{name}"] = peak
        results[f"time_{name}"] = best_time(lambda m=model: step(m), repeats)
    plain.zero_grad()
    results["grads_equal"] = all(
        np.array_equal(a, b) for a, b in zip(grads["plain"], grads["checkpointed"])
    )
    results["memory_saving"] = 1 - results["peak_checkpointed"] / results["peak_plain"]
    results["held_saving"] = 1 - results["held_checkpointed"] / max(results["held_plain"], 1)
    results["slowdown"] = results["time_checkpointed"] / results["time_plain"]
    return results


def format_tradeoff(r: dict[str, Any]) -> str:
    """Two lines of text for :func:`checkpoint_tradeoff`'s numbers."""
    mb = 1e6
    return (
        f"checkpointing: {r['depth']} x Linear({r['width']}, {r['width']}) + ReLU, batch "
        f"{r['batch']}, {r['segments']} segments; gradients equal: {r['grads_equal']}\n"
        f"  held after forward {r['held_plain'] / mb:.1f} MB -> {r['held_checkpointed'] / mb:.1f}"
        f" MB; peak {r['peak_plain'] / mb:.1f} MB -> {r['peak_checkpointed'] / mb:.1f} MB "
        f"({r['memory_saving']:.0%} less); time {r['time_plain'] * 1e3:.0f} ms -> "
        f"{r['time_checkpointed'] * 1e3:.0f} ms ({r['slowdown']:.2f}x)"
    )
