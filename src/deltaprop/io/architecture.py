"""A model's structure as JSON: :func:`architecture` describes it, :func:`build` rebuilds it.

Only classes registered in ``deltaprop.nn.LAYERS`` (extend it with ``nn.register_layer``) are
ever built, by name, from their ``get_config()``: a file cannot make deltaprop run code it
names. This is the one module of :mod:`deltaprop.io` that imports ``nn``.

A layer whose constructor takes other modules (``Residual(block, shortcut)``: the names in
its class's ``module_args``) is described with those modules as nested trees under
``"modules"`` and rebuilt by passing them back, built first, as keyword arguments.

Layers nest at most :data:`MAX_NESTING` levels (Sequentials within Sequentials, blocks within
Residuals): both walks recurse once per level, and the JSON of a deeper tree would exceed what
:func:`~deltaprop.io.codec.parse_json` reads back (each level is two levels of JSON).
"""

from __future__ import annotations

import json
from typing import Any

from .. import nn
from ..errors import ConfigError
from ..nn.module import Module
from ..nn.sequential import Sequential

MAX_NESTING = 30


def architecture(model: Module) -> dict[str, Any]:
    """The JSON tree that :func:`build` turns back into ``model``'s structure.

    A Sequential lists its layers; any other layer gives its registered class name and its
    ``get_config()``. A layer instance that appears twice becomes ``{"ref": "<dotted path>"}``,
    so shared layers stay shared. A class missing from ``nn.LAYERS`` (or a config that is not
    JSON) is still described, marked ``"registered": false``; :func:`load` then explains how to
    load such a file.
    """
    seen: dict[int, str] = {}

    def describe(module: Module, path: str, depth: int) -> dict[str, Any]:
        if id(module) in seen:
            return {"ref": seen[id(module)]}
        seen[id(module)] = path
        cls = type(module)
        name = nn.layer_name(cls)
        if cls is Sequential:
            _check_nesting(depth, path)
            return {
                "class": "Sequential",
                "layers": [
                    describe(layer, f"{path}.{i}" if path else str(i), depth + 1)
                    for i, layer in enumerate(module)
                ],
            }
        try:
            config = module.get_config()
            json.dumps(config, allow_nan=False)
        except Exception:  # a config we cannot store: load() will say so
            config = None
        node: dict[str, Any] = {"class": name or cls.__qualname__, "config": config}
        if name is None or config is None:
            node["registered"] = False
        args = getattr(cls, "module_args", ())
        if args:
            _check_nesting(depth, path)
            node["modules"] = {
                arg: None
                if getattr(module, arg) is None
                else describe(getattr(module, arg), f"{path}.{arg}" if path else arg, depth + 1)
                for arg in args
            }
        return node

    return describe(model, "", 0)


def _check_nesting(depth: int, path: str) -> None:
    if depth >= MAX_NESTING:
        raise ConfigError(
            f"layer {path!r}: Sequentials nested more than {MAX_NESTING} levels deep; a model "
            "file holds at most that many"
        )


def build(tree: Any) -> Module:
    """Rebuild a Module from an :func:`architecture` tree (classes from ``nn.LAYERS`` only).

    Raises ConfigError for a tree that is malformed, nested more than :data:`MAX_NESTING`
    levels deep, or names a class that is not registered.
    """
    built: dict[str, Module] = {}

    def make(node: Any, path: str, depth: int) -> Module:
        where = f"layer {path!r}" if path else "the model"
        if not isinstance(node, dict):
            raise ConfigError(f"{where}: expected an object, got {type(node).__name__}")
        if "ref" in node:
            ref = node["ref"]
            if ref not in built:
                raise ConfigError(f"{where}: refers to {ref!r}, which is not built before it")
            return built[ref]
        name = node.get("class")
        if not isinstance(name, str):
            raise ConfigError(f"{where}: expected a 'class' name, got {name!r}")
        cls = nn.LAYERS.get(name)
        if cls is None or node.get("registered", True) is False:
            raise ConfigError(
                f"{where} is a {name!r}, which is not a registered layer class; register it "
                f"with deltaprop.nn.register_layer({name}) before loading, or build the model "
                "in code and call deltaprop.load_weights(model, path)"
            )
        if cls is Sequential:
            layers = node.get("layers")
            if not isinstance(layers, list):
                raise ConfigError(f"{where}: a Sequential needs a 'layers' list")
            _check_nesting(depth, path)
            module: Module = Sequential(
                *[
                    make(child, f"{path}.{i}" if path else str(i), depth + 1)
                    for i, child in enumerate(layers)
                ]
            )
        else:
            config = node.get("config", {})
            if not isinstance(config, dict):
                raise ConfigError(f"{where}: expected a 'config' object, got {config!r}")
            children = node.get("modules", {})
            args = getattr(cls, "module_args", ())
            if not isinstance(children, dict) or set(children) != set(args):
                raise ConfigError(
                    f"{where}: a {name} needs 'modules' {{{', '.join(args)}}}, got {children!r}"
                    if args
                    else f"{where}: a {name} takes no nested 'modules'"
                )
            if args:
                _check_nesting(depth, path)
            kwargs = {
                arg: None
                if child is None
                else make(child, f"{path}.{arg}" if path else arg, depth + 1)
                for arg, child in children.items()
            }
            if set(kwargs) & set(config):
                raise ConfigError(f"{where}: {sorted(set(kwargs) & set(config))} given twice")
            try:
                module = cls(**config, **kwargs)
            except Exception as e:
                raise ConfigError(f"{where}: cannot build {name} from {config}: {e}") from e
        built[path] = module
        return module

    return make(tree, "", 0)
