"""The scratch arrays of an optimizer's update: one buffer that every parameter shares.

An update rule needs an intermediate or two shaped like the parameter (``lr * g``, Adam's
denominator). Allocating them per call costs an allocation per parameter per step, which
shows at batch size 1; keeping one per parameter would hold a second copy of the model. So an
optimizer keeps, per dtype and array type, one flat buffer as large as its largest parameter,
and hands out views of it reshaped like the parameter at hand: updates run one parameter after
another, so the parameters can share it. Its contents are garbage on entry and dead after the
update that asked for it.
"""

from __future__ import annotations

from typing import Any

from ..backend import xp_of


class Scratch:
    """``get(w, slot)``: a view shaped like ``w`` (see the module doc); ``slot`` 0 or 1 when
    two are live at once (the L2 decayed gradient and the rule's own intermediate)."""

    def __init__(self) -> None:
        self._views: dict[tuple, Any] = {}
        self._flat: dict[tuple, Any] = {}

    def get(self, w: Any, slot: int = 0) -> Any:
        key = (w.shape, w.dtype, type(w), slot)
        view = self._views.get(key)
        if view is None:
            view = self._view(w, key)
        return view

    def _view(self, w: Any, key: tuple) -> Any:
        kind = key[1:]
        flat = self._flat.get(kind)
        if flat is None or flat.size < w.size:
            flat = self._flat[kind] = xp_of(w).empty(w.size, dtype=w.dtype)
            # views of the smaller buffer are dropped, so that it is freed
            self._views = {k: v for k, v in self._views.items() if k[1:] != kind}
        view = self._views[key] = flat[: w.size].reshape(w.shape)
        return view

    def __deepcopy__(self, memo: dict) -> Scratch:
        return Scratch()  # nothing in it is worth copying
