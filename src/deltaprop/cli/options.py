"""What the commands share: the parser class (one-line errors), the recipe's flags built from
its field table, the merge defaults < ``--config`` TOML file < flags, and remedies as flags."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import numpy as np

from .. import nn, optim, parallel, report
from ..data import DESCENTS
from ..errors import ConfigError
from ..names import normalize
from ..recipe import FIELDS, Recipe, RunResult, check_writable, flag, read_toml
from ..recipe.fields import COMMAND_KEYS
from ..recipe.outputs import OUTPUTS, check_distinct
from ..recipe.validate import MODELS, SCHEDULE_NAMES

__all__ = [
    "Parser", "add_quiet", "add_recipe_options", "check_writable", "recipe_from_args",
    "remedy_flags", "run_recipe",
]  # fmt: skip

# Flags with a fixed set of names: argparse checks them (choices=) after ``canonical`` spelled
# them the table's way, so "--optimizer Adam" and "--schedule cosine_restarts" still work.
CHOICES: dict[str, Sequence[str]] = {
    "activation": nn.ACTIVATIONS,
    "optimizer": tuple(optim.OPTIMIZERS),
    "schedule": SCHEDULE_NAMES,
    "descent": DESCENTS,
    "model": MODELS,
}


class Parser(argparse.ArgumentParser):
    """argparse, with every usage error as one ConfigError (``main`` prints it as one line
    ``deltaprop: error: ...`` and exits with 2, like every other bad input)."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(message)


def canonical(names: Sequence[str]) -> Callable[[str], str]:
    """A ``type=`` that spells a name as ``names`` does (any case, "-" or "_"); an unknown
    name passes through for ``choices=`` to reject."""
    table = {normalize(n): n for n in names}

    def convert(text: str) -> str:
        return table.get(normalize(text), text)

    return convert


def add_recipe_options(
    parser: argparse.ArgumentParser, command: str = "train", exclude: Sequence[str] = ()
) -> None:
    """``--config`` and one flag per recipe field (shared by train, diagnose, distill and
    tune); the keys only another command takes (:data:`~deltaprop.recipe.fields.COMMAND_KEYS`)
    and those in ``exclude`` get no flag."""
    others = {k for cmd, keys in COMMAND_KEYS.items() if cmd != command for k in keys}
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="TOML file with the same keys as the flags, and architecture (a list of layers, "
        "[[architecture]] tables), which has no flag",
    )
    for spec in FIELDS:
        if not spec.has_flag or spec.name in others or spec.name in exclude:  # TOML only
            continue
        text, default = spec.help, spec.default
        # default=None so that we can tell a flag that was given from one that was not.
        shown = text if default is None or "(default" in text else f"{text} (default: {default})"
        if spec.kind is bool:
            parser.add_argument(spec.flag, dest=spec.name, default=None, help=shown,
                                action=argparse.BooleanOptionalAction)  # fmt: skip
        elif spec.name in CHOICES:
            parser.add_argument(spec.flag, dest=spec.name, default=None, help=shown,
                                type=canonical(CHOICES[spec.name]), choices=CHOICES[spec.name],
                                metavar=spec.name.upper())  # fmt: skip
        else:
            parser.add_argument(spec.flag, dest=spec.name, type=spec.kind, default=None,
                                metavar=spec.name.upper(), help=shown)  # fmt: skip


def recipe_from_args(args: argparse.Namespace) -> Recipe:
    """Defaults < the ``--config`` file < the flags given, as one validated Recipe whose
    messages name flags (``--lr: expected ...``); no output may be the ``--config`` file."""
    values: dict[str, Any] = read_toml(args.config, source="cli") if args.config else {}
    for spec in FIELDS:
        value = getattr(args, spec.name, None)  # None: not given, or a key without a flag
        if value is not None:
            values[spec.name] = value
    recipe = Recipe(**values, source="cli")
    outputs = {flag(name): getattr(recipe, name) for name in (*OUTPUTS, "plot")}
    check_distinct(outputs, {"--config": args.config})
    return recipe


def add_quiet(parser: argparse.ArgumentParser) -> None:
    """``--quiet``, for the commands that train (:func:`run_recipe`)."""
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="print only the header and the final lines (no per-epoch lines, callback lines "
        "or warnings)",
    )


def run_recipe(args: argparse.Namespace, runner: Callable[..., RunResult]) -> RunResult | None:
    """The recipe of ``args`` (:func:`recipe_from_args`) run by ``runner`` (:func:`deltaprop.
    run`, or one with its signature), printing its lines unless ``--quiet``; None on a
    data-parallel rank other than 0, which prints no summary."""
    recipe = recipe_from_args(args)
    # Warnings come from rank 0 alone: the others would repeat them (the data's split, made
    # before training starts, warns on every rank)
    quiet = args.quiet or (recipe.distributed and not parallel.is_root())
    launched = parallel.launched_size()
    if launched > 1 and not recipe.distributed and parallel.is_root() and not args.quiet:
        report.warn(
            f"{launched} processes were launched together (mpiexec) but "
            f"{flag('distributed')} is not set: each trains the whole model on its own, "
            f"prints and writes its files; add {flag('distributed')} to train one model on "
            "all of them"
        )
    # Overflow on the way to a NaN loss is reported by the Trainer in one line, with the epoch
    # and step; NumPy's own warnings would only repeat it as noise.
    with (
        np.errstate(over="ignore", invalid="ignore", divide="ignore"),
        report.quiet(quiet, all_warnings=True),
    ):
        result = runner(recipe, verbose=not args.quiet, log=print)
    if recipe.distributed and not parallel.is_root():
        return None  # rank 0 prints the summary
    return result


def remedy_flags(changes: dict[str, Any]) -> str:
    """``{"activation": "relu", "batchnorm": True}`` -> ``"--activation relu --batchnorm"``."""
    parts = []
    for key, value in changes.items():
        if isinstance(value, bool):
            parts.append(flag(key) if value else "--no-" + key.replace("_", "-"))
        elif isinstance(value, (tuple, list)):
            parts.append(f"{flag(key)} {','.join(map(str, value))}")
        else:
            shown = f"{value:g}" if isinstance(value, float) else str(value)
            parts.append(f"{flag(key)} {shown}")
    return " ".join(parts)
