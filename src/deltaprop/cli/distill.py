"""``deltaprop distill``: train a small student from a trained teacher's model file, on the
same data and split as ``deltaprop train``; the flags (and ``--config``) -> a Recipe ->
:func:`deltaprop.distill.distill_run`; print the student's scores."""

from __future__ import annotations

import argparse

from ..distill import distill_run
from .options import add_quiet, add_recipe_options, run_recipe


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "distill",
        help="train a small student network from a big trained teacher (knowledge "
        "distillation) and report its test accuracy",
        description="Knowledge distillation: train the network the flags describe (the "
        "student; e.g. --hidden 32) on the teacher's softened class probabilities and the "
        "labels. Same data, split and options as `deltaprop train` (but --compile); --teacher "
        "is required. Settings: defaults < --config TOML file < flags.",
    )
    add_recipe_options(parser, command="distill")
    add_quiet(parser)
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> None:
    result = run_recipe(args, distill_run)
    if result is None:
        return
    m = result.metrics
    print(
        f"{m['dataset']}: student test_accuracy {m['test_accuracy']:.4f}  test_loss "
        f"{m['test_loss']:.4f}  ({result.model.num_parameters():,} weights, {m['epochs']} "
        f"epochs, {m['seconds']:.1f} s)"
    )
    if result.recipe.save:
        print(f"saved the student to {result.recipe.save}")
