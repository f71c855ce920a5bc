"""``deltaprop train``: the flags (and ``--config``) -> a Recipe -> :func:`deltaprop.run`; print
the summary lines from the result."""

from __future__ import annotations

import argparse

import numpy as np

from .. import parallel, report
from ..recipe import run
from ..recipe.describe import test_summary
from .options import add_recipe_options, recipe_from_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "train",
        help="train an MLP or a CNN (default: an MLP on the bundled digits data set) and "
        "report test accuracy",
        description="Train an MLP or CNN classifier (or regressor) and report test metrics. "
        "Settings: defaults < --config TOML file < flags.",
    )
    add_recipe_options(parser)
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="print only the header and the final lines (no per-epoch lines, callback lines "
        "or warnings)",
    )
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> None:
    recipe = recipe_from_args(args)
    # Overflow on the way to a NaN loss is reported by the Trainer in one line, with the epoch
    # and step; NumPy's own warnings would only repeat it as noise.
    with (
        np.errstate(over="ignore", invalid="ignore", divide="ignore"),
        report.quiet(args.quiet, all_warnings=True),
    ):
        result = run(recipe, verbose=not args.quiet, log=print)
    if recipe.distributed and not parallel.is_root():
        return  # rank 0 prints the summary
    m = result.metrics
    summary = test_summary(m)
    if "val_loss" in m:  # the final model on the validation part: what `tune` scores trials by
        key = "val_accuracy" if "val_accuracy" in m else "val_loss"
        summary += f"  {key} {m[key]:.4f}"
    print(f"{m['dataset']}: {summary}  ({m['epochs']} epochs, {m['seconds']:.1f} s)")
    if recipe.save:
        print(f"saved model to {recipe.save}")
    if result.plots:
        print(f"wrote {', '.join(result.plots)} to {recipe.plot}")
