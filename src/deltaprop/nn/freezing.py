"""Which parameters a name picks out, for freezing and unfreezing parts of a model.

``model.freeze("0", "2")`` names layers as ``repr(model)`` and ``named_modules()`` show them
(a Sequential's layer index, or a dotted path such as ``"1.block.0"``); a parameter can be
named too (``"0.bias"``); an int is a position among the model's direct children (``-1`` is the
last one, usually the output layer). A frozen parameter has ``requires_grad=False``: backward
computes no gradient for it (nor, when nothing upstream needs one, for the layers below it),
and optimizers and weight penalties leave it as it is.

Kept apart from :mod:`.module` and written against the Module interface only
(``named_modules``, ``named_parameters``, ``children``), so that module.py can import it.
"""

from __future__ import annotations

import numbers
from typing import Any

from ..errors import ConfigError


def child_names(model: Any) -> list[str]:
    """The names of ``model``'s direct children, in order (a Sequential's ``"0"``, ``"1"``...)."""
    return list(model._modules)


def select(model: Any, names: tuple[Any, ...], what: str = "freeze") -> list[Any]:
    """The Parameters the ``names`` pick out (each once, in the model's order); no names: all.

    Args:
        model: a Module.
        names: ints (positions among the direct children, negative from the end) or strings
            (a dotted module name from ``named_modules()``, or a parameter name from
            ``named_parameters()``).
        what: how messages name the caller's argument (``"freeze"``, ``"--freeze"``).

    Raises:
        ConfigError: a name that is neither a module nor a parameter of the model, or an
            index out of range; the message lists the model's layers.
    """
    params = dict(model.named_parameters())
    if not names:
        return list(params.values())
    modules = dict(model.named_modules())
    children = child_names(model)
    chosen: dict[int, Any] = {}
    for name in names:
        key = _key(name, children, what, model)
        if key in params:
            found = [params[key]]
        elif key in modules:
            found = modules[key].parameters()
        else:
            raise ConfigError(
                f"{what}: the model has no layer or parameter named {name!r}; its layers are "
                f"{describe_children(model)}"
            )
        for p in found:
            chosen[id(p)] = p
    return [p for p in params.values() if id(p) in chosen]


def _key(name: Any, children: list[str], what: str, model: Any) -> str:
    """A dotted name for ``name``: strings as given, ints as the child at that position."""
    if isinstance(name, str):
        return name.strip()
    if isinstance(name, numbers.Integral) and not isinstance(name, bool):
        i = int(name)
        if not -len(children) <= i < len(children):
            raise ConfigError(
                f"{what}: layer index {i} does not exist; the model has {len(children)} "
                f"layers, {describe_children(model)}"
            )
        return children[i]
    raise ConfigError(
        f"{what}: expected layer names (str, e.g. '0' or '1.block.0') or indices (int), got "
        f"{name!r}"
    )


def describe_children(model: Any) -> str:
    """``0 Linear, 1 ReLU, 2 Linear`` (names and classes of the direct children)."""
    parts = [f"{n} {type(m).__name__}" for n, m in model._modules.items()]
    return ", ".join(parts) if parts else "(none)"


def set_requires_grad(params: list[Any], flag: bool) -> None:
    """Set ``requires_grad`` on each Parameter; a frozen one drops its gradient too, so that
    a stale one left by an earlier backward cannot reach an optimizer step."""
    for p in params:
        p.requires_grad = flag
        if not flag:
            p.grad = None
