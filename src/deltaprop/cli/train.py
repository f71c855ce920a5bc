"""``deltaprop train``: the flags (and ``--config``) -> a Recipe -> :func:`deltaprop.run`; print
the summary lines from the result."""

from __future__ import annotations

import argparse

from ..recipe import run
from ..recipe.describe import test_summary
from .options import add_quiet, add_recipe_options, run_recipe


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "train",
        help="train an MLP or a CNN (default: an MLP on the bundled digits data set) and "
        "report test accuracy",
        description="Train an MLP or CNN classifier (or regressor) and report test metrics. "
        "Settings: defaults < --config TOML file < flags.",
    )
    add_recipe_options(parser)
    add_quiet(parser)
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> None:
    result = run_recipe(args, run)
    if result is None:
        return
    m, recipe = result.metrics, result.recipe
    summary = test_summary(m)
    if "val_loss" in m:  # the final model on the validation part: what `tune` scores trials by
        key = "val_accuracy" if "val_accuracy" in m else "val_loss"
        summary += f"  {key} {m[key]:.4f}"
    print(f"{m['dataset']}: {summary}  ({m['epochs']} epochs, {m['seconds']:.1f} s)")
    if recipe.save:
        print(f"saved model to {recipe.save}")
    if result.plots:
        print(f"wrote {', '.join(result.plots)} to {recipe.plot}")
