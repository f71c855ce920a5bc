"""The numbers behind the backprop step-through page: one example through a small MLP, run
layer by layer on leaf copies of each intermediate value, so that the engine itself reports
every node's upstream gradient, local derivative and delta (see :mod:`.backprop_page`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend, nn
from ..autograd.tensor import Tensor
from ..checks import check_choice, check_real
from ..errors import ConfigError, ShapeError

MAX_LAYERS = 6  # Linear layers
MAX_UNITS = 8  # units per layer, the input features included

#: The activations the page can draw: class -> (name, its derivative as the page writes it).
ACTIVATIONS: dict[type, tuple[str, str]] = {
    nn.Sigmoid: ("sigmoid", "sigmoid'(z) = a(1 - a)"),
    nn.Tanh: ("tanh", "tanh'(z) = 1 - a^2"),
    nn.ReLU: ("relu", "relu'(z) = 1 if z > 0 else 0"),
    nn.LeakyReLU: ("leaky_relu", "leaky_relu'(z) = 1 if z > 0 else the slope"),
    nn.ELU: ("elu", "elu'(z) = 1 if z > 0 else a + alpha"),
    nn.GELU: ("gelu", "gelu'(z) = Phi(z) + z phi(z)"),
}
_LOSSES = ("cross_entropy", "mse")


def structure(model) -> list[tuple[nn.Linear, Any]]:
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
        elif type(layer) in ACTIVATIONS:
            if not pairs or pairs[-1][1] is not None:
                raise ConfigError(
                    f"model: layer {i} ({type(layer).__name__}) must follow a Linear layer"
                )
            pairs[-1][1] = layer
        elif isinstance(layer, nn.Identity):
            continue
        else:
            allowed = ", ".join(["Linear"] + [c.__name__ for c in ACTIVATIONS])
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


def _check_example(x, y, loss: str, n_in: int, n_out: int, dtype):
    """(x as (n_in,) of the model's dtype, the target: [label] or (1, n_out) values)."""
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


def trace(model, x, y, loss: str = "cross_entropy", lr: float = 0.1) -> dict[str, Any]:
    """Every number of one forward/backward/update on one example, from the engine: the dict
    :func:`deltaprop.viz.backprop_page` returns, without its ``steps`` (see there for the keys
    and the arguments). The model's parameters and their ``.grad`` are left as they were."""
    pairs = structure(model)  # the model is checked first: its sizes check x and y
    loss = check_choice(loss, _LOSSES, "loss")
    lr = check_real(lr, "lr", strict=True)
    dtype = pairs[0][0].weight.data.dtype
    n_in, n_out = pairs[0][0].in_features, pairs[-1][0].out_features
    xa, target = _check_example(x, y, loss, n_in, n_out, dtype)
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
                "activation": ACTIVATIONS[type(act)][0] if act is not None else None,
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
        "lr": lr,
        **extra,
        "layers": out_layers,
    }
    return data
