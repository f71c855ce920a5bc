"""Module, Parameter, Sequential: stateful structure with no backward code.

Layers hold Parameters and call ops in ``forward``; gradients come from the engine. Parameters,
buffers and sub-modules register in assignment order, so dotted names (``"0.weight"``) and the
order of ``parameters()`` are fixed, which optimizers and model files rely on.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, NamedTuple

import numpy as np

from .. import backend
from ..autograd.tensor import Tensor
from ..errors import ConfigError, WeightsMismatchError
from .freezing import select, set_requires_grad


class IncompatibleKeys(NamedTuple):
    """What :meth:`Module.load_state_dict` did not match (PyTorch's NamedTuple of the name)."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class Parameter(Tensor):
    """A Tensor that a Module owns and an optimizer updates (requires_grad=True by default)."""

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True, dtype=None):
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self) -> str:
        return "Parameter(" + super().__repr__() + ")"


#: Bumped by every attribute set on any Module (a layer added, a parameter replaced, a
#: setting changed): a compiled step re-walks a model's tree only after it moved.
_TREE_VERSION = [0]


def tree_version() -> int:
    """A number that changes whenever an attribute of any Module is set, and whenever a
    model's modes change (``train``, ``eval``, ``training_mode``)."""
    return _TREE_VERSION[0]


class Module:
    """Base class of layers and models: subclasses set attributes in ``__init__`` and write
    ``forward``. Parameters and sub-modules are plain attributes (fast to read in forward) and
    are also recorded, in order, in ``_parameters`` / ``_modules``; buffers (running
    statistics) are saved with the model but never optimized."""

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() first")
        _TREE_VERSION[0] += 1
        for registry in (self._parameters, self._modules, self._buffers):
            registry.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name: str, value: Any) -> None:
        """Keep ``value`` (array or Tensor) as state that is saved but not trained."""
        tensor = value if isinstance(value, Tensor) else Tensor(value)
        self.__setattr__(name, tensor)
        self._buffers[name] = tensor

    def register_parameter(self, name: str, value: Parameter | None) -> None:
        if value is None:
            object.__setattr__(self, name, None)
            return
        self.__setattr__(name, value)

    # --- running -----------------------------------------------------------------------------
    def forward(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def __init_subclass__(cls, **kwargs) -> None:
        # Calling a layer *is* calling its forward: binding __call__ to forward saves one
        # Python frame per layer per step, which shows at batch size 1.
        super().__init_subclass__(**kwargs)
        if "forward" in cls.__dict__ and "__call__" not in cls.__dict__:
            cls.__call__ = cls.forward

    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout drops, batch norm uses batch statistics)."""
        _TREE_VERSION[0] += 1  # a mode is part of what a compiled step's recording assumes
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Evaluation mode: the same as ``train(False)``."""
        return self.train(False)

    @contextmanager
    def training_mode(self, mode: bool = True) -> Iterator[Module]:
        """``with model.training_mode(mode):`` runs the block with every submodule in training
        (or, with ``mode=False``, eval) mode, then gives each module back its own flag, also
        when the block raises. Flags are saved per module because a user may have frozen a
        part (e.g. a batch-norm layer left in eval mode inside a model that trains)."""
        saved = [(m, m.training) for m in self.modules()]
        try:
            self.train(mode)
            yield self
        finally:
            _TREE_VERSION[0] += 1
            for m, flag in saved:
                object.__setattr__(m, "training", flag)

    def evaluating(self) -> AbstractContextManager[Module]:
        """``with model.evaluating():`` eval mode for the block (dropout off, batch norm on its
        running statistics), each module's own flag restored afterwards, also on exceptions:
        ``training_mode(False)``."""
        return self.training_mode(False)

    # --- walking the tree --------------------------------------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every descendant, depth first, each once."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = list(module._modules.items())
            for child_name, child in reversed(children):
                stack.append((f"{name}.{child_name}" if name else child_name, child))

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def children(self) -> Iterator[Module]:
        yield from self._modules.values()

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """(dotted name, Parameter) in registration order; a shared Parameter appears once."""
        seen: set[int] = set()
        for mod_name, module in self.named_modules(prefix):
            for name, p in module._parameters.items():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def named_buffers(self) -> Iterator[tuple[str, Tensor]]:
        for mod_name, module in self.named_modules():
            for name, b in module._buffers.items():
                yield (f"{mod_name}.{name}" if mod_name else name), b

    def zero_grad(self) -> None:
        """Drop every parameter's gradient (the next backward writes fresh ones)."""
        for p in self.parameters():
            p.grad = None

    def num_parameters(self) -> int:
        return int(sum(p.data.size for p in self.parameters()))

    # --- freezing (see freezing.py) ----------------------------------------------------------
    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` on every parameter of this module (False: frozen)."""
        set_requires_grad(self.parameters(), bool(requires_grad))
        return self

    def freeze(self, *names: str | int) -> Module:
        """Freeze the layers or parameters named (``model.freeze("0", "2")``, ``freeze(0)``;
        none: all of them); their weights stay as they are while the rest trains.

        Raises:
            ConfigError: a name that is not a layer or parameter of this model (nothing is
                frozen then)."""
        set_requires_grad(select(self, names, "freeze"), False)
        return self

    def unfreeze(self, *names: str | int) -> Module:
        """Undo :meth:`freeze` for the layers or parameters named (none: all of them)."""
        set_requires_grad(select(self, names, "unfreeze"), True)
        return self

    # --- state -------------------------------------------------------------------------------
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Parameters and buffers by dotted name, as NumPy copies (safe to keep and save)."""
        state: OrderedDict[str, np.ndarray] = OrderedDict()
        for name, p in self.named_parameters():
            state[name] = backend.to_numpy(p.data).copy()
        for name, b in self.named_buffers():
            state[name] = backend.to_numpy(b.data).copy()
        return state

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy values into this model's parameters and buffers; return the
        ``(missing_keys, unexpected_keys)`` of ``state`` (an :class:`IncompatibleKeys`).

        All keys and shapes are checked before anything is written, so a failed load changes
        nothing. With ``strict``, missing and unexpected keys are a ConfigError; without it
        they are skipped (and returned), as for a model whose output layer was replaced.

        Raises:
            WeightsMismatchError: a value whose shape is not its tensor's (strict or not); it
                is a ModelFileError and a ShapeError, naming the tensor and both shapes.
        """
        targets = dict(self.named_parameters())
        targets.update(dict(self.named_buffers()))
        missing = [k for k in targets if k not in state]
        unexpected = [k for k in state if k not in targets]
        if strict and (missing or unexpected):
            raise ConfigError(
                f"state_dict: keys do not match the model; missing {missing}, "
                f"unexpected {unexpected}"
            )
        staged = []
        for name, value in state.items():
            if name not in targets:
                continue
            target = targets[name]
            array = value.data if isinstance(value, Tensor) else value
            array = np.asarray(backend.to_numpy(array))
            if array.shape != target.data.shape:
                raise WeightsMismatchError(
                    f"state_dict[{name!r}]: expected shape {target.data.shape}, got {array.shape}"
                )
            staged.append((target, array))
        for target, array in staged:
            xp = backend.xp_of(target.data)
            target.data = xp.asarray(array, dtype=target.data.dtype).copy()
        return IncompatibleKeys(missing, unexpected)

    def to(self, device: Any) -> Module:
        """Move parameters and buffers to ``"cpu"``, ``"cuda"`` (``"gpu"``) or a
        :func:`deltaprop.device`, in place (a ConfigError naming ``device`` when CuPy or a GPU
        is missing, before anything moves). Parameters keep their identity, so an optimizer
        made before still holds them; make it before or after, but step it after."""
        target = backend.device(device)
        for t in list(self.parameters()) + [b for _, b in self.named_buffers()]:
            t.data = backend.to_device(t.data, target)
            t.grad = None
        return self

    # --- description -------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Constructor arguments as JSON-able values, so a model file can rebuild the layer."""
        return {}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())

    def __repr__(self) -> str:
        if not self._modules:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}("]
        for name, m in self._modules.items():
            body = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        lines.append(")")
        return "\n".join(lines)
