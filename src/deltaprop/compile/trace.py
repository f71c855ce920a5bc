"""The recorder: run one eager forward (model and loss) and write down every op it applies.

While :func:`tracing` is active, ``Function.apply`` is wrapped so that each call appends a
:class:`Node` to the tape: the op's Function object (its attributes and ``needs``), the input
Tensors and the output Tensor. The eager computation itself is untouched, so the recording
step's numbers are exactly those of an uncompiled step.

What a tape cannot hold is flagged instead of recorded wrongly: reading a tensor's value in
Python (``.item()``, ``.numpy()``, ``.tolist()``, a comparison such as ``t > 0`` that a branch
or a mask would use) makes the forward depend on data the replay would not see, so the tape
is marked unrecordable, naming what was read. (Code that reads ``.data`` directly cannot be
seen; :mod:`deltaprop.compile.program` refuses constants shaped like the batch for that
reason, and custom Modules must not keep Python state in ``forward``.)

The patch is process-wide for the duration of one forward and is always undone in ``finally``;
deltaprop's engine is single-threaded per model, so no other op can slip into the tape.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..autograd.function import Function
from ..autograd.tensor import Tensor


@dataclass(eq=False)
class Node:
    """One recorded op: ``fn`` (the Function object, with its attributes and ``needs``),
    ``inputs`` (the Tensors it was applied to) and ``output`` (the Tensor it made)."""

    fn: Function
    inputs: tuple[Tensor, ...]
    output: Tensor
    attrs: dict[str, Any]

    @property
    def op(self) -> str:
        return type(self.fn).__name__


@dataclass(eq=False)
class Tape:
    """The ops of one forward, in the order they ran, and what made the forward unrecordable
    (None when nothing did)."""

    nodes: list[Node] = field(default_factory=list)
    problem: str | None = None

    def flag(self, what: str) -> None:
        if self.problem is None:
            self.problem = what


_VALUE_READS = ("item", "numpy", "tolist", "__lt__", "__le__", "__gt__", "__ge__")


@contextmanager
def tracing(tape: Tape) -> Iterator[Tape]:
    """Record every ``Function.apply`` into ``tape`` inside the block (see the module doc)."""
    original_apply = Function.__dict__["apply"]
    apply = original_apply.__func__
    saved_reads = {name: Tensor.__dict__.get(name) for name in _VALUE_READS}

    def traced_apply(cls, *inputs, **attrs):
        out = apply(cls, *inputs, **attrs)
        fn = out.creator
        if fn is None:  # no input needed a gradient: make the node apply() made and dropped
            fn = object.__new__(cls)
            for key, value in attrs.items():
                setattr(fn, key, value)
            fn.needs = (False,) * len(inputs)
            fn.saved = ()
        tape.nodes.append(Node(fn, inputs, out, dict(attrs)))
        return out

    def reader(name: str, method):
        def read(self, *args, **kwargs):
            what = f".{name}()" if not name.startswith("__") else f"a comparison ({name})"
            tape.flag(f"{what} on a tensor: a value read in Python (a branch or a mask)")
            return method(self, *args, **kwargs)

        return read

    Function.apply = classmethod(traced_apply)
    for name, method in saved_reads.items():
        if method is not None:
            setattr(Tensor, name, reader(name, method))
    try:
        yield tape
    finally:
        Function.apply = original_apply
        for name, method in saved_reads.items():
            if method is not None:
                setattr(Tensor, name, method)
