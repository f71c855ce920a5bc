"""Remedies that apply to the run they are for: the doctor never suggests a setting the run
already has, nor one its descent mode ignores or cannot run.

A remedy's ``changes`` are recipe keys (``{"lr": 0.01}``); :func:`applicable` drops the keys
whose value the run already has, drops a remedy left with nothing to change, replaces the
batch size (ignored unless ``descent`` is ``"minibatch"``) by what does the same job in the
run's mode, and leaves out batch normalization with batch size 1.
"""

from __future__ import annotations

from typing import Any

#: The recipe's defaults for the keys a remedy may name (a settings dict may omit them).
_DEFAULTS: dict[str, Any] = {
    "activation": "relu", "init": "default", "optimizer": "sgd", "descent": "minibatch",
    "batchnorm": False, "layernorm": False, "dropout": 0.0, "l2": 0.0, "clip_norm": None,
    "residual": False,
}  # fmt: skip


def _same(key: str, value: Any, s: dict[str, Any]) -> bool:
    current = s.get(key, _DEFAULTS.get(key))
    if isinstance(value, str) and isinstance(current, str):
        return value.strip().lower() == current.strip().lower()
    return value == current


def applicable(
    remedies: list[tuple[str, dict[str, Any]]], s: dict[str, Any], lr: float
) -> list[tuple[str, dict[str, Any]]]:
    """``remedies`` as ``(text, changes)``, made to fit the run's settings ``s`` (a recipe's
    keys; ``lr`` is the rate the run used). Order is kept; duplicates are dropped."""
    descent = str(s.get("descent") or "minibatch").lower()
    out: list[tuple[str, dict[str, Any]]] = []
    for text, change in remedies:
        if "batch_size" in change and descent != "minibatch":
            # the batch size is ignored in this mode: smaller steps, or real minibatches
            text, change = (
                ("use minibatch descent", {"descent": "minibatch"})
                if descent == "stochastic"
                else (
                    f"halve the learning rate (lr {lr:g} -> {lr / 2:.3g})",
                    {"lr": float(f"{lr / 2:.3g}")},
                )  # fmt: skip
            )
        if change.get("batchnorm") and descent == "stochastic":
            continue  # batch norm cannot normalize a batch of one row
        kept = {k: v for k, v in change.items() if not _same(k, v, s)}
        if change and not kept:
            continue  # everything it asks for is already set
        if kept.get("batchnorm") and s.get("layernorm"):
            kept["layernorm"] = False  # a recipe takes at most one of them
        if any(kept == c for _, c in out) and kept:
            continue
        out.append((text, kept))
    return out
