"""What a :class:`~deltaprop.compile.step.CompiledStep` has recorded, in words and as code.

``describe()`` lists every recording's kernels with their shapes (forward, backward, the
update), and for a batch split over lanes, each lane's rows; ``source()`` gives the Python
each recording replays (:mod:`deltaprop.compile.source`). A teaching view of one step of
backprop as much as a debugging aid.
"""

from __future__ import annotations

from typing import Any


def describe(step: Any) -> str:
    """See :meth:`CompiledStep.describe <deltaprop.compile.step.CompiledStep.describe>`."""
    empty = _nothing(step)
    if empty is not None:
        return empty
    parts = []
    for key, prog in step._programs.items():
        xs, xd, ys, yd, (modes, _) = key
        mode = "train" if all(modes) else "eval" if not any(modes) else "mixed"
        parts.append(f"recording for x {xs} {xd}, y {ys} {yd}, {mode} mode")
        parts.append(prog.describe())
        split = step._lanesets.get(key, False)
        fused = [k for k, _, is_weight in prog.fused if is_weight and k.fused_lr is not None]
        fused = [] if split else fused  # lanes keep every gradient for their sum
        note = f" (weights of {len(fused)} linear layer(s) updated inside their backward)"
        rule = f"{type(step.optimizer).__name__}.step() (the eager rule, its scratch shared)"
        parts.append("update: " + rule + (note if fused else ""))
        if split is None:
            parts.append(f"lanes: 1 (lanes={step.lanes} refused for this step: see its warning)")
        elif split:
            rows = ", ".join(f"{lo}-{hi - 1}" for lo, hi in split.bounds)
            parts.append(
                f"lanes: {len(split.bounds)} threads replay the kernels above on rows {rows} "
                "(each its own recording and buffers); the gradients are summed in lane order"
            )
    return "\n".join(parts)


def source(step: Any) -> str:
    """See :meth:`CompiledStep.source <deltaprop.compile.step.CompiledStep.source>`."""
    empty = _nothing(step)
    if empty is not None:
        return "# " + empty
    parts = []
    for key, prog in step._programs.items():
        xs, xd, ys, yd, _ = key
        parts += [f"# recording for x {xs} {xd}, y {ys} {yd}", prog.source.text, ""]
        split = step._lanesets.get(key)
        if split:
            lo, hi = split.bounds[0]
            parts += [f"# lane 0 of {len(split.bounds)} (rows {lo}-{hi - 1}), each lane alike",
                      split.programs[0].source.text, ""]  # fmt: skip
    return "\n".join(parts).rstrip() + "\n"


def _nothing(step: Any) -> str | None:
    """Why there is no recording to show (eager for good, or none yet); None when there is."""
    if step.fallback is not None:
        return f"eager (not recorded): {step.fallback}"
    if not step._programs:
        return "nothing recorded yet: the first call records the step"
    return None
