"""A backprop step-through page: one example through a small MLP, every number from the engine.

:func:`backprop_page` takes the numbers from :func:`.backprop_trace.trace`, explains each step
in words, and writes one self-contained HTML file (inline CSS, JS and SVG; no network) that
steps through the forward pass, the loss, the backward pass node by node and the SGD update.
"""

from __future__ import annotations

import html
import json
from typing import Any

import numpy as np

from .backprop_trace import ACTIVATIONS, MAX_LAYERS, MAX_UNITS, trace
from .output import write_output
from .page_assets import PAGE_CSS, PAGE_JS

__all__ = ["MAX_LAYERS", "MAX_UNITS", "backprop_page", "fmt", "render_html"]


def fmt(value: float) -> str:
    """4 significant digits (the format every number on the page uses)."""
    return f"{float(value):.4g}"


def _vec(values) -> str:
    return "[" + ", ".join(fmt(v) for v in np.ravel(values)) + "]"


def _steps(data: dict[str, Any]) -> list[dict[str, Any]]:
    layers = data["layers"]
    n = len(layers)
    steps: list[dict[str, Any]] = []
    prev_name = "the input x = " + _vec(data["input"])
    for li, layer in enumerate(layers):
        act = layer["activation"]
        units = []
        for j, (z, a) in enumerate(zip(layer["z"], layer["a"])):
            units.append(f"unit {j + 1}: z = {fmt(z)}" + (f", a = {fmt(a)}" if act else ""))
        how = f"a = {act}(z)" if act else "no activation (a = z, the raw outputs)"
        steps.append({
            "kind": "forward", "layer": li,
            "title": f"Forward: layer {li + 1} of {n}",
            "text": f"Each unit j of layer {li + 1} takes {prev_name}: z_j = sum_i a_i W_ij + "
                    f"b_j, then {how}. " + "; ".join(units) + ".",
        })  # fmt: skip
        prev_name = f"layer {li + 1}'s activations"
    if data["loss_name"] == "cross_entropy":
        c = data["target"]
        text = (
            f"Cross-entropy on the outputs z = {_vec(layers[-1]['a'])}: softmax p = "
            f"{_vec(data['probs'])}; the target class is {c}, so L = -log p_{c} = "
            f"{fmt(data['loss'])}."
        )
    else:
        text = (
            f"Mean squared error: prediction {_vec(layers[-1]['a'])}, target "
            f"{_vec(data['target'])}: L = mean((y_hat - y)^2) = {fmt(data['loss'])}."
        )
    steps.append({"kind": "loss", "layer": n - 1, "title": "Loss", "text": text})
    for li in range(n - 1, -1, -1):
        layer = layers[li]
        act = layer["activation"]
        for j in range(len(layer["z"])):
            up, loc, d = layer["upstream"][j], layer["local"][j], layer["delta"][j]
            if li == n - 1:
                where = "dL/da comes straight from the loss"
                if data["loss_name"] == "cross_entropy":
                    where += f" (p_{j} - t_{j})"
            else:
                nxt = layers[li + 1]["delta"]
                where = (
                    f"dL/da is summed over the units it feeds, sum_k W_jk delta_k with the "
                    f"memoized deltas {_vec(nxt)} of layer {li + 2}"
                )
            local = _ACTIVATION_TEXT.get(act, "no activation, so da/dz = 1")
            steps.append({
                "kind": "backward", "layer": li, "unit": j,
                "title": f"Backward: layer {li + 1}, unit {j + 1}",
                "text": f"Upstream gradient dL/da = {fmt(up)} ({where}). Local derivative "
                        f"da/dz = {fmt(loc)} ({local}). Their product is the delta "
                        f"dL/dz = {fmt(up)} x {fmt(loc)} = {fmt(d)}, memoized: every weight "
                        f"into this unit reuses it, dL/dW_ij = a_i x delta = "
                        f"{_vec(np.asarray(layer['grad_weight'])[:, j])}, "
                        f"dL/db = {fmt(layer['grad_bias'][j])}.",
            })  # fmt: skip
    lr = data["lr"]
    for li, layer in enumerate(layers):
        w, g, nw = (np.asarray(layer[k]) for k in ("weight", "grad_weight", "new_weight"))
        parts = [
            f"W[{i + 1},{j + 1}]: {fmt(w[i, j])} - {fmt(lr)} x {fmt(g[i, j])} = {fmt(nw[i, j])}"
            for i in range(w.shape[0])
            for j in range(w.shape[1])
        ]
        parts += [
            f"b[{j + 1}]: {fmt(b)} - {fmt(lr)} x {fmt(gb)} = {fmt(nb)}"
            for j, (b, gb, nb) in enumerate(
                zip(layer["bias"], layer["grad_bias"], layer["new_bias"])
            )
        ]
        steps.append({
            "kind": "update", "layer": li,
            "title": f"Update: layer {li + 1}",
            "text": f"SGD step W <- W - lr x dL/dW with lr = {fmt(lr)}. " + "; ".join(parts) + ".",
        })  # fmt: skip
    return steps


# The drawing (SVG units; the page scales it to its width): the input column at x = 90, the
# output column ``right`` units from the right edge, the loss label 40 units right of it.
MIN_WIDTH = 900
MIN_SPAN = 640  # from the input column to the output column
LABEL_GAP, LABEL_MARGIN = 40, 16
# Widest character of the label's 14px bold sans-serif text, with room to spare (digits are
# about 0.56 em, "m" and "[" less than 0.9 em): the estimate must not fall short, or the label
# is cut at the edge again.
LABEL_CHAR_PX = 0.68 * 14


def loss_label(data: dict[str, Any]) -> list[str]:
    """The loss label's two lines, e.g. ``["L = 1.078", "(target class 1)"]``."""
    if data["loss_name"] == "cross_entropy":
        target = f"class {data['target']}"
    else:
        target = _vec(data["target"])
    return [f"L = {fmt(data['loss'])}", f"(target {target})"]


def layout(label: list[str]) -> dict[str, int]:
    """``{"width", "right"}``: a right margin wide enough for the longest label line, and a
    drawing wide enough to keep ``MIN_SPAN`` between the input and output columns."""
    text = int(np.ceil(LABEL_CHAR_PX * max(len(line) for line in label)))
    right = LABEL_GAP + text + LABEL_MARGIN
    return {"width": max(MIN_WIDTH, 90 + MIN_SPAN + right), "right": right}


_ACTIVATION_TEXT = {name: text for name, text in ACTIVATIONS.values()}


def backprop_page(model, x, y, path, loss: str = "cross_entropy", lr: float = 0.1) -> dict:
    """Write a step-through HTML page of one forward/backward/update on one example.

    Args:
        model: an ``nn.Sequential`` of Linear layers, each optionally followed by an elementwise
            activation (sigmoid, tanh, relu, leaky_relu, elu, gelu); at most ``MAX_LAYERS`` (6)
            Linear layers and ``MAX_UNITS`` (8) units per layer, the inputs included.
        x: one example, shape (n,) or (1, n).
        y: its target: a class label for ``"cross_entropy"``, n_out values for ``"mse"``.
        path: the HTML file to write (None: only compute).
        loss: ``"cross_entropy"`` (on the raw outputs) or ``"mse"``.
        lr: the SGD learning rate of the shown update (the model itself is not changed).

    Returns:
        a JSON-able dict: ``input``, ``target``, ``sizes``, ``loss``, ``loss_name``, ``lr``,
        (``probs`` for cross-entropy), ``layers`` (per Linear: ``activation``, ``weight``
        (in, out), ``bias``, ``z``, ``a``, ``upstream`` dL/da, ``local`` da/dz, ``delta``
        dL/dz, ``grad_weight``, ``grad_bias``, ``new_weight``, ``new_bias``) and ``steps``
        (``kind``: forward, loss, backward, update; ``layer``; ``unit``; ``title``; ``text``),
        ``loss_label`` (the two lines shown right of the outputs) and ``layout`` (the drawing's
        ``width`` and the ``right`` margin kept free for that label, in SVG units).
    """
    data = trace(model, x, y, loss, lr)
    data["steps"] = _steps(data)
    data["loss_label"] = loss_label(data)
    data["layout"] = layout(data["loss_label"])
    if path is not None:
        write_output(path, lambda: render_html(data).encode("utf-8"))
    return data


def render_html(data: dict[str, Any]) -> str:
    """The page: the data as JSON in a script tag ("<" escaped), CSS and JS inline."""
    payload = json.dumps(data, allow_nan=False).replace("<", "\\u003c").replace(">", "\\u003e")
    title = html.escape(f"Backprop step by step: {'-'.join(map(str, data['sizes']))} network")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>{PAGE_CSS}</style>
</head>
<body>
<h1>{title}</h1>
<div id="controls">
<button id="prev" type="button">&#9664; Previous</button>
<button id="play" type="button">Play</button>
<button id="next" type="button">Next &#9654;</button>
<span id="step"></span>
</div>
<h2 id="step-title"></h2>
<p id="explain"></p>
<svg id="net" role="img" aria-label="network"></svg>
<p class="legend">Hover a unit or a weight for its numbers. Edge width: |weight|; blue positive,
red negative. Numbers are shown to 4 significant digits.</p>
<script type="application/json" id="backprop-data">{payload}</script>
<script>{PAGE_JS}</script>
</body>
</html>
"""
