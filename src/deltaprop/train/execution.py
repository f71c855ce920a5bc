"""How a Trainer's steps run, decided once by its constructor: eagerly (the default), replayed
from a recording (``compile``: a :class:`~deltaprop.compile.CompiledStep`), split over MPI
ranks (``distributed``: :mod:`deltaprop.train.distributed`), or with the arrays on a device
(``device``: the model moves there now, ``fit``'s data when it starts)."""

from __future__ import annotations

from typing import Any

from ..autograd.tensor import Tensor
from ..checks import check_bool, check_int
from ..compile import CompiledStep
from ..errors import ConfigError
from . import distributed as _distributed


def set_up(trainer: Any, compile: Any, distributed: Any, device: Any, lanes: Any = 1) -> None:
    """Sets ``trainer.compile``, ``_compiled`` and ``_dist`` and moves the model to ``device``
    (the constructor's last step: the model, loss, optimizer, clipping, penalties and
    callbacks are set). ConfigError: a bad value, ``compile`` with a device other than cpu,
    or lanes with ``distributed`` (a data-parallel fit makes its compiled step itself:
    train/distributed.py)."""
    trainer.compile = check_bool(compile, "compile")
    trainer.lanes = check_int(lanes, "lanes", minimum=1)
    if trainer.lanes > 1 and not trainer.compile:
        raise ConfigError(
            f"lanes: splits the compiled step over threads; expected 1 without compile=True, "
            f"got {trainer.lanes}"
        )
    if trainer.compile and device not in (None, "cpu"):
        # a recording replays NumPy calls: no kernels for a device's arrays
        raise ConfigError(
            f"compile: the compiled step runs on the CPU; expected no device, got {device!r}"
        )
    one_process = distributed is None or distributed is False
    if trainer.compile and not one_process and trainer.lanes > 1:
        raise ConfigError(
            f"lanes: a data-parallel rank's compiled step runs one lane; got {trainer.lanes}"
        )
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
