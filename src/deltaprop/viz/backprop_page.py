"""A backprop step-through page: one example through a small MLP, every number from the engine.

:func:`backprop_page` runs the model layer by layer on leaf copies of each intermediate value,
so the engine itself reports every node's upstream gradient, local derivative and delta, and
then writes one self-contained HTML file (inline CSS, JS and SVG; no network) that steps
through the forward pass, the loss, the backward pass node by node and the SGD weight update.
"""

from __future__ import annotations

import html
import json
import math
import os
from typing import Any

import numpy as np

from .. import backend, nn
from ..autograd.tensor import Tensor
from ..errors import ConfigError, ShapeError
from .page_assets import PAGE_CSS, PAGE_JS

MAX_LAYERS = 6  # Linear layers
MAX_UNITS = 8  # units per layer, the input features included

_ACTIVATIONS: dict[type, tuple[str, str]] = {
    nn.Sigmoid: ("sigmoid", "sigmoid'(z) = a(1 - a)"),
    nn.Tanh: ("tanh", "tanh'(z) = 1 - a^2"),
    nn.ReLU: ("relu", "relu'(z) = 1 if z > 0 else 0"),
    nn.LeakyReLU: ("leaky_relu", "leaky_relu'(z) = 1 if z > 0 else the slope"),
    nn.ELU: ("elu", "elu'(z) = 1 if z > 0 else a + alpha"),
    nn.GELU: ("gelu", "gelu'(z) = Phi(z) + z phi(z)"),
}
_LOSSES = ("cross_entropy", "mse")


def fmt(value: float) -> str:
    """4 significant digits (the format every number on the page uses)."""
    return f"{float(value):.4g}"


def _vec(values) -> str:
    return "[" + ", ".join(fmt(v) for v in np.ravel(values)) + "]"


def _structure(model) -> list[tuple[nn.Linear, Any]]:
    """[(Linear, activation Module or None), ...], or ConfigError naming the limit."""
    if not isinstance(model, nn.Sequential):
        raise ConfigError(
            f"model: expected an nn.Sequential of Linear and activation layers, got "
            f"{type(model).__name__}"
        )
    pairs: list[list[Any]] = []
    for i, layer in enumerate(model):
        if isinstance(layer, nn.Linear):
            if pairs and layer.in_features != pairs[-1][0].out_features:
                raise ShapeError(
                    f"model: layer {i} takes {layer.in_features} inputs but the previous Linear "
                    f"gives {pairs[-1][0].out_features}"
                )
            pairs.append([layer, None])
        elif type(layer) in _ACTIVATIONS:
            if not pairs or pairs[-1][1] is not None:
                raise ConfigError(
                    f"model: layer {i} ({type(layer).__name__}) must follow a Linear layer"
                )
            pairs[-1][1] = layer
        elif isinstance(layer, nn.Identity):
            continue
        else:
            allowed = ", ".join(["Linear"] + [c.__name__ for c in _ACTIVATIONS])
            raise ConfigError(
                f"model: layer {i} is a {type(layer).__name__}; the page draws only {allowed}"
            )
    if not pairs:
        raise ConfigError("model: expected at least one Linear layer, got none")
    if len(pairs) > MAX_LAYERS:
        raise ConfigError(
            f"model: at most {MAX_LAYERS} Linear layers fit the page, got {len(pairs)}"
        )
    widths = [pairs[0][0].in_features] + [lin.out_features for lin, _ in pairs]
    if max(widths) > MAX_UNITS:
        raise ConfigError(
            f"model: at most {MAX_UNITS} units per layer (inputs included) fit the page, got "
            f"layer widths {widths}"
        )
    return [(lin, act) for lin, act in pairs]


def _check_inputs(x, y, loss: str, lr, n_in: int, n_out: int, dtype):
    if loss not in _LOSSES:
        raise ConfigError(f"loss: expected one of {_LOSSES}, got {loss!r}")
    ok = isinstance(lr, (int, float, np.integer, np.floating)) and not isinstance(lr, bool)
    if not ok or not math.isfinite(lr) or lr <= 0:
        raise ConfigError(f"lr: expected a positive finite number, got {lr!r}")
    xa = np.asarray(x.numpy() if isinstance(x, Tensor) else x)
    if xa.ndim == 2 and xa.shape[0] == 1:
        xa = xa[0]
    if xa.ndim != 1:
        raise ShapeError(f"x: expected one example, shape (n,) or (1, n), got {xa.shape}")
    if xa.shape[0] != n_in:
        raise ShapeError(f"x: the model takes {n_in} features, got {xa.shape[0]}")
    if xa.dtype.kind not in "fiub" or not np.all(np.isfinite(xa.astype(np.float64))):
        raise ConfigError("x: expected finite numbers")
    xa = xa.astype(dtype)
    ya = np.asarray(y.numpy() if isinstance(y, Tensor) else y)
    if loss == "cross_entropy":
        if ya.size != 1 or ya.dtype.kind not in "iu" and not float(ya.ravel()[0]).is_integer():
            raise ConfigError(f"y: expected one class label (an integer), got {y!r}")
        label = int(ya.ravel()[0])
        if not 0 <= label < n_out:
            raise ConfigError(f"y: expected a class label in 0..{n_out - 1}, got {label}")
        return xa, np.array([label])
    if ya.size != n_out:
        raise ShapeError(f"y: the model has {n_out} outputs, got a target of {ya.size} values")
    return xa, ya.astype(dtype).reshape(1, n_out)


def _run(pairs, x: np.ndarray, target: np.ndarray, loss: str):
    """Forward and backward, one layer at a time on leaf copies, all through the engine."""
    dtype = x.dtype
    layers = []
    a = x.reshape(1, -1)
    for lin, act in pairs:
        lin_in = Tensor(a, requires_grad=True, dtype=dtype)
        z_t = lin(lin_in)
        entry = {"lin": lin, "act": act, "lin_in": lin_in, "z_t": z_t, "z": z_t.numpy().copy()}
        if act is not None:
            act_in = Tensor(entry["z"].copy(), requires_grad=True, dtype=dtype)
            a_t = act(act_in)
            entry.update(act_in=act_in, a_t=a_t)
            a = a_t.numpy().copy()
            # The local derivative da/dz, elementwise: the engine's gradient for a seed of ones.
            probe = Tensor(entry["z"].copy(), requires_grad=True, dtype=dtype)
            act(probe).backward(grad=np.ones_like(entry["z"]))
            entry["local"] = probe.grad.numpy().copy()
        else:
            a = entry["z"]
            entry["local"] = np.ones_like(entry["z"])
        entry["a"] = a
        layers.append(entry)

    out = Tensor(layers[-1]["a"].copy(), requires_grad=True, dtype=dtype)
    loss_fn = nn.get_loss(loss)
    loss_t = loss_fn(out, target)
    loss_t.backward()
    upstream = out.grad.numpy().copy()
    for entry in reversed(layers):
        entry["upstream"] = upstream
        if entry["act"] is not None:
            entry["a_t"].backward(grad=upstream)
            delta = entry["act_in"].grad.numpy().copy()
        else:
            delta = upstream
        entry["delta"] = delta
        entry["z_t"].backward(grad=delta)
        upstream = entry["lin_in"].grad.numpy().copy()
    extra = {}
    if loss == "cross_entropy":
        logits = layers[-1]["a"][0].astype(np.float64)
        e = np.exp(logits - logits.max())
        extra["probs"] = (e / e.sum()).tolist()
    return layers, float(loss_t.item()), extra


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


_ACTIVATION_TEXT = {name: text for name, text in _ACTIVATIONS.values()}


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
        (``kind``: forward, loss, backward, update; ``layer``; ``unit``; ``title``; ``text``).
    """
    pairs = _structure(model)
    dtype = pairs[0][0].weight.data.dtype
    n_in, n_out = pairs[0][0].in_features, pairs[-1][0].out_features
    xa, target = _check_inputs(x, y, loss, lr, n_in, n_out, dtype)
    params = [p for lin, _ in pairs for p in (lin.weight, lin.bias) if p is not None]
    saved = [p.grad for p in params]
    try:
        for p in params:
            p.grad = None
        layers, loss_value, extra = _run(pairs, xa, target, loss)
        out_layers = []
        for e in layers:
            lin = e["lin"]
            w = backend.to_numpy(lin.weight.data).astype(np.float64)
            gw = lin.weight.grad.numpy().astype(np.float64)
            if lin.bias is not None:
                b = backend.to_numpy(lin.bias.data).astype(np.float64)
                gb = lin.bias.grad.numpy().astype(np.float64)
            else:
                b = gb = np.zeros(lin.out_features)
            act = e["act"]
            out_layers.append({
                "activation": _ACTIVATIONS[type(act)][0] if act is not None else None,
                "weight": w.tolist(), "bias": b.tolist(),
                "z": e["z"][0].tolist(), "a": e["a"][0].tolist(),
                "upstream": e["upstream"][0].tolist(), "local": e["local"][0].tolist(),
                "delta": e["delta"][0].tolist(),
                "grad_weight": gw.tolist(), "grad_bias": gb.tolist(),
                "new_weight": (w - lr * gw).tolist(), "new_bias": (b - lr * gb).tolist(),
            })  # fmt: skip
    finally:
        for p, g in zip(params, saved):
            p.grad = g
    data: dict[str, Any] = {
        "input": xa.astype(np.float64).tolist(),
        "target": int(target[0]) if loss == "cross_entropy" else target[0].tolist(),
        "sizes": [n_in] + [lin.out_features for lin, _ in pairs],
        "loss_name": loss,
        "loss": loss_value,
        "lr": float(lr),
        **extra,
        "layers": out_layers,
    }
    data["steps"] = _steps(data)
    if path is not None:
        _write(os.fspath(path), render_html(data))
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


def _write(path: str, text: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ConfigError(f"path: folder does not exist: {folder}")
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise ConfigError(f"path: cannot write {path}: {exc.strerror}") from None
