"""``deltaprop distill``: train a small student from a trained teacher's model file, on the
same data and split as ``deltaprop train``; the flags (and ``--config``) -> a Recipe ->
:func:`deltaprop.distill.distill_run`; print the student's scores."""

from __future__ import annotations

import argparse

import numpy as np

from .. import report
from ..distill import distill_run
from .options import add_recipe_options, recipe_from_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "distill",
        help="train a small student network from a big trained teacher (knowledge "
        "distillation) and report its test accuracy",
        description="Knowledge distillation: train the network the flags describe (the "
        "student; e.g. --hidden 32) on the teacher's softened class probabilities and the "
        "labels. Same data, split and options as `deltaprop train`; --teacher is required. "
        "Settings: defaults < --config TOML file < flags.",
    )
    add_recipe_options(parser, command="distill")
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="print only the header and the final lines (no per-epoch lines or warnings)",
    )
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> None:
    recipe = recipe_from_args(args)
    with (
        np.errstate(over="ignore", invalid="ignore", divide="ignore"),
        report.quiet(args.quiet, all_warnings=True),
    ):
        result = distill_run(recipe, verbose=not args.quiet, log=print)
    m = result.metrics
    print(
        f"{m['dataset']}: student test_accuracy {m['test_accuracy']:.4f}  test_loss "
        f"{m['test_loss']:.4f}  ({result.model.num_parameters():,} weights, {m['epochs']} "
        f"epochs, {m['seconds']:.1f} s)"
    )
    if recipe.save:
        print(f"saved the student to {recipe.save}")
