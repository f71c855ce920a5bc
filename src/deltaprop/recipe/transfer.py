"""Transfer learning in a run: ``init_from`` (start from a trained model's weights), ``freeze``
(layers that keep them) and ``head_lr`` / ``body_lr`` (discriminative learning rates: the
output layer and the layers below it in two parameter groups).

``init_from`` takes a deltaprop model file (``deltaprop train --save``) or a safetensors file
of a PyTorch ``state_dict`` (names as torch gives them, Linear weights (out, in): see
:mod:`deltaprop.io.torch_names`). The recipe's own network is built as usual and filled by
name; where the output layer does not fit (a source trained on other classes) it keeps its
fresh weights, and the run's header says so. Any other tensor that does not fit is an error
naming ``init_from`` and the tensor, before any training.

``freeze`` names layers as the model prints them (a Sequential's indices): ``"0-1"`` (a range),
``"0,2"``, ``"0-1,4"``, or dotted names (``"1.block.0"``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import backend, io, nn
from ..errors import ConfigError, DeltapropError, ModelFileError, WeightsMismatchError
from ..nn.freezing import select, set_requires_grad

if TYPE_CHECKING:  # spec imports validate, which imports this module's parse_freeze
    from .spec import Recipe

_RANGE = re.compile(r"^(\d+)-(\d+)$")
_NAME = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$")


def parse_freeze(value: Any, name: str = "freeze") -> str | None:
    """The ``freeze`` text, checked and tidied (``" 0-1, 3"`` -> ``"0-1,3"``); None, ``""``
    and ``"none"`` -> None. Ints and lists (TOML) are accepted."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ConfigError(f"{name}: expected layer indices such as 0-1 or 0,2, got {value!r}")
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    if not isinstance(value, str):
        raise ConfigError(f"{name}: expected layer indices such as 0-1 or 0,2, got {value!r}")
    items = [part.strip() for part in value.split(",") if part.strip()]
    if not items or value.strip().lower() == "none":
        return None
    for item in items:
        m = _RANGE.match(item)
        if m and int(m.group(1)) > int(m.group(2)):
            raise ConfigError(f"{name}: the range {item} runs backwards; expected e.g. 0-1")
        if not m and not _NAME.match(item):
            raise ConfigError(
                f"{name}: expected layer indices (0-1, 0,2) or layer names (1.block.0), got "
                f"{item!r}"
            )
    return ",".join(items)


def freeze_names(text: str) -> tuple[str, ...]:
    """``"0-2,4,1.block"`` -> ``("0", "1", "2", "4", "1.block")``."""
    names: list[str] = []
    for item in text.split(","):
        m = _RANGE.match(item)
        if m:
            names.extend(str(i) for i in range(int(m.group(1)), int(m.group(2)) + 1))
        else:
            names.append(item)
    return tuple(names)


# --- building ----------------------------------------------------------------------------------


def prepare_model(recipe: Recipe, model: nn.Module) -> list[str]:
    """Fill ``model`` from ``init_from`` and freeze the ``freeze`` layers, in place; return
    what the run's header says about it (e.g. ``["init from a.safetensors, new head 5 -> 10
    outputs", "freeze 0-1 (16,640 weights)"]``).

    Raises:
        ModelFileError: ``init_from`` cannot be read or does not fit (named, with the tensor).
        ConfigError: a ``freeze`` layer that does not exist, or one that freezes everything.
    """
    notes = []
    if recipe.init_from is not None:
        notes.append(_init_from(recipe, model))
    if recipe.freeze is not None:
        what = recipe.show("freeze")
        frozen = select(model, freeze_names(recipe.freeze), what)
        if len(frozen) == len(model.parameters()):
            raise ConfigError(
                f"{what}: {recipe.freeze} freezes every layer with weights, so nothing would "
                "train; leave the output layer out"
            )
        set_requires_grad(frozen, False)
        count = sum(p.data.size for p in frozen)
        notes.append(f"freeze {recipe.freeze} ({count:,} weights)")
    return notes


def param_groups(recipe: Recipe, model: nn.Module) -> Any:
    """The optimizer's parameters: all of them, or, with ``head_lr`` / ``body_lr``, two groups
    ``body`` (every layer below the output layer) and ``head`` (the output layer), each with its
    own lr when given (the other takes the run's ``lr``).

    Raises:
        ConfigError: ``body_lr`` for a model with no layer below its output layer.
    """
    if recipe.head_lr is None and recipe.body_lr is None:
        return model.parameters()
    head = {id(p) for p in select(model, (nn.head_name(model),), recipe.show("head_lr"))}
    body = [p for p in model.parameters() if id(p) not in head]
    groups = []
    if body:
        groups.append(_group("body", body, recipe.body_lr))
    elif recipe.body_lr is not None:
        raise ConfigError(
            f"{recipe.show('body_lr')}: the model has no layer below its output layer (no "
            f"{recipe.show('hidden')}); drop it"
        )
    groups.append(_group("head", [p for p in model.parameters() if id(p) in head], recipe.head_lr))
    return groups


def _group(name: str, params: list[Any], lr: float | None) -> dict[str, Any]:
    return {"params": params, "name": name, **({} if lr is None else {"lr": lr})}


def describe(recipe: Recipe, build: Any, n_in: Any, n_out: int) -> str:
    """The header's words on transfer learning (``""`` when the run uses none of it), checked
    on a scratch model built by ``build(recipe, n_in, n_out)`` with a generator of its own, so
    that a bad file or layer name is an error before the run starts and the run's random
    numbers are not moved."""
    if recipe.init_from is None and recipe.freeze is None and recipe.head_lr is None:
        if recipe.body_lr is None:
            return ""
    saved = backend.rng()
    backend.set_rng(np.random.default_rng(0))
    try:
        model = build(recipe, n_in, n_out)
        notes = prepare_model(recipe, model)
        param_groups(recipe, model)
    finally:
        backend.set_rng(saved)
    lrs = [f"{k.split('_')[0]} lr {getattr(recipe, k):g}" for k in ("head_lr", "body_lr")
           if getattr(recipe, k) is not None]  # fmt: skip
    return "".join(f", {n}" for n in notes + lrs)


def _init_from(recipe: Recipe, model: nn.Module) -> str:
    """Load ``init_from`` into ``model`` (all checked before anything is written)."""
    key, path = recipe.show("init_from"), recipe.init_from
    try:
        file = io.read_tensor_file(path)
        ours = file.header.get("format") == io.FORMAT
        if ours and file.scheme is None:
            raise ModelFileError(f"{file.path}: corrupt file: the checksum is missing")
        state = dict(file.tensors)
        head = nn.head_name(model)
        keys = {f"{head}.weight", f"{head}.bias"}
        own = model.state_dict()
        w = state.get(f"{head}.weight")
        src_out = None if w is None or w.ndim != 2 else (w.shape[1] if ours else w.shape[0])
        new_head = src_out is not None and src_out != own[f"{head}.weight"].shape[1]
        if new_head:
            state = {k: v for k, v in state.items() if k not in keys}
        missing = [k for k in own if k not in state and not (new_head and k in keys)]
        unexpected = [k for k in state if k not in own]
        if missing or unexpected:
            raise ModelFileError(
                f"{file.path}: its tensors do not match the run's network: missing {missing}, "
                f"unexpected {unexpected}{_hint(path, recipe)}"
            )
        if ours:
            for name, value in state.items():
                if value.shape != own[name].shape:
                    raise WeightsMismatchError(
                        f"{file.path}: tensor {name!r} has shape {value.shape}, the run's "
                        f"network needs {own[name].shape}{_hint(path, recipe)}"
                    )
            model.load_state_dict(state, strict=False)
        else:
            io.from_torch_state(model, state, strict=False, where=file.path)
    except DeltapropError as exc:
        raise type(exc)(f"{key}: {exc}") from None
    note = f"init from {path}"
    if new_head:
        note += f", new output layer {src_out} -> {own[f'{head}.weight'].shape[1]} outputs"
    return note


def _hint(path: str, recipe: Recipe) -> str:
    """``; the file's network was trained with --hidden 64,32`` when a deltaprop CLI file
    says so and the run asks for other widths."""
    try:
        settings = io.read_metadata(path).get("deltaprop_cli", {}).get("settings", {})
    except DeltapropError:
        return ""  # not ours (a torch file): nothing to say
    hidden = settings.get("hidden")
    mine = ",".join(str(h) for h in recipe.hidden)
    if isinstance(hidden, str) and hidden != mine:
        return f"; the file's network was trained with {recipe.show('hidden')} {hidden}"
    return ""
