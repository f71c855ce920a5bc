"""A recording turned into Python source: one forward and one backward function of NumPy calls.

The kernels of a :class:`~deltaprop.compile.program.Program` write their own lines
(:mod:`~deltaprop.compile.kernel`); this module strings them together in the plan's order,
names the values, and compiles the text once with ``exec``. A replay is then two calls of
plain functions whose bodies are the calls a careful person writes by hand: no kernel
objects, no value table, no loop over a plan. For a 64-32-10 network at batch size 1 the
per-step Python of the interpreted replay (one method call and several list reads per
kernel) was about a quarter of the step.

Names in the source: ``x``, ``y`` (the batch), ``p3`` (value 3, a parameter or a constant,
bound once: the program is valid only while the parameters keep their arrays), ``v5`` (an
op's output) and ``g5`` (its gradient), ``seed`` (d loss / d loss), ``k4_y`` (kernel 4's
buffer ``y``). Every op output is also stored in the value table ``vals``: the backward
function reads the forward's values from it, and the kernels that run the op's own code
(called as ``k4.forward(vals)``) read their inputs there.

Where a gradient may be None at run time (a called kernel's, or a linear weight's whose update
went straight into the weights), the lines test for it, as the interpreted loop did.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from .. import backend
from ..nn.module import tree_version

#: What every function's lines may call (NumPy's, by the names the kernels use).
BUILTINS: dict[str, Any] = {
    "np": np, "dot": np.dot, "add": np.add, "subtract": np.subtract, "multiply": np.multiply,
    "divide": np.divide, "negative": np.negative, "exp": np.exp, "log": np.log,
    "tanh": np.tanh, "greater": np.greater, "greater_equal": np.greater_equal,
    "add_reduce": np.add.reduce, "max_reduce": np.maximum.reduce, "asarray": np.asarray,
    "copyto": np.copyto, "rng": backend.rng,
}  # fmt: skip


class Source:
    """The generated text of a program and its compiled functions.

    Attributes:
        forward: ``forward(x, y) -> float``, the loss.
        backward: ``backward()``: every parameter's ``.grad`` set (or None).
        valid: ``valid() -> bool``: every parameter still holds the array the lines name.
        text: the source of both, for :meth:`CompiledStep.source`.
    """

    def __init__(self, prog: Any) -> None:
        self.prog = prog
        self.ns: dict[str, Any] = {**BUILTINS, "vals": prog.vals, "seed": prog.seed}
        # a lane's seed is its share of the batch, not 1: its own name, so that no kernel
        # takes the shortcuts it has for a seed of 1
        self.ns["lane_seed"], self.ns["G"] = prog.seed, prog.lane_grads
        self.seed = "lane_seed" if prog.seed_varies else "seed"
        for i in range(len(prog.vals)):
            if i not in (prog.x, prog.y) and not prog.made_by_op(i):
                self.ns[f"p{i}"] = prog.vals[i]  # parameters and constants: fixed arrays
        for j, k in enumerate(prog.kernels):
            self.ns.update(k.bind(f"k{j}"))
            self.ns[f"k{j}"] = k
        fwd = self._forward_lines()
        bwd = self._backward_lines()
        self.text = "\n".join(["def forward(x, y):", *fwd, "", "def backward():", *bwd])
        # whether every parameter still holds the array the lines were written for
        held = [f"P{n}.data is p{i}" for n, (_, i, _, _) in enumerate(prog._grad_out)]
        check = "def valid():\n    return " + (" and ".join(held) or "True")
        code = compile(
            "\n\n".join([self.text, check, self._guard(held)]), "<deltaprop compiled step>", "exec"
        )
        exec(code, self.ns)  # noqa: S102
        self.forward = self.ns["forward"]
        self.backward = self.ns["backward"]
        self.valid = self.ns["valid"]
        self.guard = self.ns["guard"]

    def _guard(self, held: list[str]) -> str:
        """``guard(xb, yb)``: True when this recording may replay a batch with no other check:
        two NumPy arrays of its shapes and dtypes, no Module attribute set since the step last
        chose it (``LAST[0]``: the :func:`~deltaprop.nn.module.tree_version` then; ``train``
        and ``eval`` move it too), the same parameter arrays and ``requires_grad`` flags. One
        expression in place of the batch check, the key and its lookup (~3 µs a step at
        batch size 1)."""
        prog = self.prog
        x, y = prog.vals[prog.x], prog.vals[prog.y]
        self.last = [-1]
        self.ns.update(ndarray=np.ndarray, tree_version=tree_version, LAST=self.last,
                       SX=x.shape, SY=y.shape, DX=x.dtype, DY=y.dtype)  # fmt: skip
        flags = [f"P{n}.requires_grad is {p.requires_grad}" for n, (p, *_) in
                 enumerate(prog._grad_out)]  # fmt: skip
        terms = ["type(xb) is ndarray", "type(yb) is ndarray", "xb.shape == SX",
                 "yb.shape == SY", "xb.dtype is DX", "yb.dtype is DY",
                 "tree_version() == LAST[0]", *held, *flags]  # fmt: skip
        body = "\n        and ".join(terms)
        return f"def guard(xb, yb):\n    return (\n        {body}\n    )"

    # --- naming -----------------------------------------------------------------------------
    def v(self, i: int) -> str:
        prog = self.prog
        if i == prog.x:
            return "x"
        if i == prog.y:
            return "y"
        return f"v{i}" if prog.made_by_op(i) else f"p{i}"

    # --- forward ----------------------------------------------------------------------------
    def _forward_lines(self) -> list[str]:
        prog, v = self.prog, self.v
        lines = [f"vals[{prog.x}] = x", f"vals[{prog.y}] = y"]
        for j, k in enumerate(prog.kernels):
            own = k.emit_forward(v, f"k{j}")
            if own is None:  # the op's own code, reading its inputs from the table
                lines += [f"k{j}.forward(vals)", f"{v(k.out)} = vals[{k.out}]"]
            else:
                lines += [*own, f"vals[{k.out}] = {v(k.out)}"]
        lines.append(f"return float({v(prog.loss)})")
        return ["    " + line for line in lines]

    # --- backward ---------------------------------------------------------------------------
    def _backward_lines(self) -> list[str]:
        prog, v = self.prog, self.v
        body: list[str] = []
        # what is known of each value's gradient at this point of the text
        state = {prog.loss: "set"}  # absent: none yet; "set": an array; "maybe": maybe None
        tags = {id(k): f"k{j}" for j, k in enumerate(prog.kernels)}
        for k, may_write, steps in prog._plan:
            known = state.get(k.out)
            if known is None or not steps:
                continue  # no gradient reaches this kernel's output: nothing to do
            t = tags[id(k)]
            g = self.seed if k.out == prog.loss else f"g{k.out}"
            block, outs, plan, claimed = [], [None] * len(k.inputs), [], set()
            for pos, i in steps:
                # the first gradient of a value is stored under its own name (None, where it
                # may be None, is the right start); later ones (x * x: twice here) are added
                direct = state.get(i) is None and i not in claimed
                claimed.add(i)
                outs[pos] = f"g{i}" if direct else f"r{pos}"
                plan.append((pos, i, direct))
            own = k.emit_backward(v, g, outs, may_write, t)
            if own is None:  # the op's own code
                block.append(f"gs = {t}.backward(vals, {g}, {may_write})")
                block += [f"{outs[pos]} = gs[{pos}]" for pos, _, _ in plan]
            else:
                block += own
            for pos, i, direct in plan:
                certain = known == "set" and not k.maybe_none(pos)
                before = state.get(i)
                if direct:
                    state[i] = "set" if certain else "maybe"
                    continue
                r = outs[pos]
                if before == "set":
                    add = [f"g{i} = g{i} + {r}"]
                else:  # after one that may have been None
                    add = [f"g{i} = {r} if g{i} is None else g{i} + {r}"]
                block += add if certain else [f"if {r} is not None:", *["    " + a for a in add]]
                state[i] = "set" if certain or before == "set" else "maybe"
            if known == "maybe":
                block = [f"if {g} is not None:", *["    " + b for b in block]]
            body += block
        maybe = sorted(i for i, s in state.items() if s == "maybe")
        # the forward's values that the lines read: loaded from the table once, at the top
        text = "\n".join(body)
        used = [i for i in range(len(prog.vals)) if v(i) != f"p{i}"]
        head = [f"{v(i)} = vals[{i}]" for i in used if re.search(rf"\b{v(i)}\b", text)]
        head += [f"g{i} = None" for i in maybe]
        tail = []
        if prog.lane:  # the lane's gradients, for the step to sum over the lanes
            for n, (p, i, _, _) in enumerate(prog._grad_out):
                self.ns[f"P{n}"] = p
                tail.append(f"G[{n}] = g{i}" if state.get(i) is not None else f"G[{n}] = None")
            return ["    " + line for line in [*head, *body, *tail]]
        for n, (p, i, own, _) in enumerate(prog._grad_out):
            self.ns[f"P{n}"], self.ns[f"W{n}"], self.ns[f"O{n}"] = p, prog._grad_out[n][3], own
            known = state.get(i)
            if known is None:
                tail.append(f"P{n}.grad = None")
                continue
            keep = (
                [f"copyto(O{n}, g{i}, 'same_kind')", f"W{n}.data = O{n}"]
                if own is not None
                else [f"W{n}.data = g{i}"]
            )
            keep.append(f"P{n}.grad = W{n}")
            if known == "maybe":
                tail += [f"if g{i} is None:", f"    P{n}.grad = None", "else:"]
                keep = ["    " + line for line in keep]
            tail += keep
        return ["    " + line for line in [*head, *body, *tail]] or ["    pass"]
