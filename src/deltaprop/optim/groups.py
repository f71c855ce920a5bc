"""Parameter groups: how an optimizer's ``params`` argument (Parameters, or dicts of them with
their own hyperparameters) becomes its ``param_groups``, every entry checked and named."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..autograd.tensor import Tensor
from ..checks import check_real
from ..errors import ConfigError


def make_group(
    group: Any,
    index: int | None,
    seen: set[int],
    defaults: dict[str, Any],
    check: Callable[[dict[str, Any], str], None],
) -> dict[str, Any]:
    """One parameter group: ``group`` (a dict with ``"params"``) with ``defaults`` filled in
    and checked by ``check(group, where)``; ``index`` is its place among several (None when
    ``params`` was a plain list), ``seen`` the ids of parameters already in a group."""
    where = "params" if index is None else f"params[{index}]"
    if not isinstance(group, dict):
        raise ConfigError(
            f"{where}: expected a parameter-group dict or a Parameter, got "
            f"{type(group).__name__} (do not mix the two)"
        )
    allowed = ("params", "name", *defaults)
    unknown = [k for k in group if k not in allowed]
    if unknown:
        raise ConfigError(f"{where}: unknown option(s) {unknown}; allowed keys are {list(allowed)}")
    if "params" not in group:
        raise ConfigError(f"{where}: a parameter group needs a 'params' entry")
    plist = group["params"]
    plist = [plist] if isinstance(plist, Tensor) else list(plist)
    if not plist:
        raise ConfigError(f"{where}: expected at least one parameter, got an empty list")
    prefix = "params" if index is None else f"params[{index}]['params']"
    for i, p in enumerate(plist):
        if not isinstance(p, Tensor):
            raise ConfigError(f"{prefix}[{i}]: expected a Parameter, got {type(p).__name__}")
        if p.data.dtype.kind != "f":
            raise ConfigError(
                f"{prefix}[{i}]: expected a floating Parameter, got dtype {p.data.dtype}"
            )
        if id(p) in seen:
            raise ConfigError(f"{prefix}[{i}]: this parameter is listed more than once")
        seen.add(id(p))
    out = dict(defaults)
    out.update({k: v for k, v in group.items() if k != "params"})
    check(out, where)
    out["params"] = plist
    return out


def check_group(
    group: dict[str, Any], where: str, check_options: Callable[[dict[str, Any]], None]
) -> None:
    """Validate one group's values in place (the lr, then the optimizer's own options by
    ``check_options``); the message is prefixed with ``where`` when the group is one of
    several (or comes from a state_dict)."""
    try:
        if where.startswith("state_dict"):
            # A schedule may have annealed the lr to exactly 0 (cosine with eta_min=0)
            # before the state was saved: restoring it must work.
            group["lr"] = check_real(group["lr"], "lr")
        else:
            group["lr"] = check_real(group["lr"], "lr", strict=True)
        check_options(group)
    except ConfigError as exc:
        raise ConfigError(str(exc) if where == "params" else f"{where}: {exc}") from None
