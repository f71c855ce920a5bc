"""``deltaprop diagnose``: train as ``deltaprop train`` would with a gradient monitor
(:func:`deltaprop.recipe.diagnose_run`), then print the step-0 init check, the per-layer table,
the verdict, the findings and the remedies as ready-to-run flags."""

from __future__ import annotations

import argparse

import numpy as np

from ..recipe import diagnose_run
from .options import add_recipe_options, recipe_from_args, remedy_flags

WORDS = {"vanishing": "vanishing gradients", "exploding": "exploding gradients",
         "dead_units": "dead units", "lr_too_high": "learning rate too high"}  # fmt: skip


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "diagnose",
        help="train with a gradient monitor and print a verdict with remedies",
        description="Train as `deltaprop train` does (same options) with a GradientMonitor; "
        "print the step-0 init check, the per-layer table, the verdict and remedies.",
    )
    add_recipe_options(parser)
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> None:
    recipe = recipe_from_args(args)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        result = diagnose_run(recipe, log=print)  # the init check prints before training
    verdict = result.verdict
    print(result.monitor.table())
    if result.test is not None:
        print("  ".join(f"test_{k} {v:.4f}" for k, v in result.test.items()))
    print(f"verdict: {WORDS.get(verdict.status, verdict.status)}")
    for line in verdict.findings:
        print(f"  - {line}")
    if verdict.remedies:
        print("remedies:")
    for i, (text, changes) in enumerate(verdict.remedies, 1):
        flags = remedy_flags(changes)
        print(f"{i}. {flags}  ({text})" if flags else f"{i}. ({text})")
    if result.plots:
        print(f"wrote {', '.join(result.plots)} to {recipe.plot}")
