"""How a Trainer's steps run, decided once by its constructor: eagerly (the default), replayed
from a recording (``compile``: a :class:`~deltaprop.compile.CompiledStep`), split over MPI
ranks (``distributed``: :mod:`deltaprop.train.distributed`), or with the arrays on a device
(``device``: the model moves there now, ``fit``'s data when it starts)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..autograd.tensor import Tensor
from ..checks import check_bool, check_int
from ..compile import CompiledStep
from ..errors import ConfigError
from . import distributed as _distributed


def execution_rules(values: dict[str, Any], show: Callable[[str], str]) -> None:
    """ConfigError for ``lanes`` > 1 without ``compile`` or with ``distributed``, and
    ``compile`` on a device other than the CPU. ``values`` holds the four keys; ``show``
    names them as the caller's user typed them (``--lanes`` for the command line, which
    refuses them by this one rule before any data is read)."""
    if values["lanes"] > 1 and not values["compile"]:
        raise ConfigError(
            f"{show('lanes')}: splits the compiled step over threads; expected 1 without "
            f"{show('compile')}, got {values['lanes']}"
        )
    if values["compile"] and values["device"] not in (None, "cpu"):
        # a recording replays NumPy calls: no kernels for a device's arrays
        raise ConfigError(
            f"{show('compile')}: the compiled step runs on the CPU; expected it without "
            f"{show('device')} {values['device']}"
        )
    if values["distributed"] and values["lanes"] > 1:
        raise ConfigError(
            f"{show('lanes')}: a data-parallel rank's compiled step runs one lane; expected 1 "
            f"with {show('distributed')}, got {values['lanes']}"
        )


def set_up(trainer: Any, compile: Any, distributed: Any, device: Any, lanes: Any = 1) -> None:
    """Sets ``trainer.compile``, ``_compiled`` and ``_dist`` and moves the model to ``device``
    (the constructor's last step: the model, loss, optimizer, clipping, penalties and
    callbacks are set). ConfigError: a bad value, ``compile`` with a device other than cpu,
    or lanes with ``distributed`` (a data-parallel fit makes its compiled step itself:
    train/distributed.py)."""
    trainer.compile = check_bool(compile, "compile")
    trainer.lanes = check_int(lanes, "lanes", minimum=1)
    one_process = distributed is None or distributed is False
    keys = {"lanes": trainer.lanes, "compile": trainer.compile, "device": device,
            "distributed": not one_process}  # fmt: skip
    execution_rules(keys, str)
    if trainer.compile and trainer.optimizer is not None and one_process:
        t = trainer

        def nothing_reads_gradients() -> bool:
            # Plain SGD may write updates inside linear's backward only then; asked at every
            # step, since clipping, penalties or a callback may be set after the constructor
            return (
                t.clip_norm is None
                and t.clip_value is None
                and not t._penalties
                and not (t.callbacks)
            )

        t._compiled = CompiledStep(
            t.model, t.loss, t.optimizer, fusion_allowed=nothing_reads_gradients,
            loss_call=lambda out, yb: t.loss(out, Tensor._wrap(yb)), lanes=t.lanes,
        )  # fmt: skip
    # data-parallel training (train/distributed.py): None on one process
    world = _distributed.resolve(distributed)
    trainer._dist = None if world is None else _distributed.Distributed(trainer, world)
    if device is not None:  # parameters keep their identity: the optimizer follows
        trainer.model.to(device)
