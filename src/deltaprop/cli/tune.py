"""``deltaprop tune``: the recipe's flags (and ``--config``) fix the keys that are not searched;
``--space`` (a TOML ``[space]`` table) says what is; :func:`deltaprop.tune.run_study` does the
rest. One line per finished trial, a progress bar on a terminal, and the files in ``--out``."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from .. import report
from ..errors import ConfigError
from ..recipe import Recipe, flag
from .options import add_recipe_options, recipe_from_args

#: The recipe's output flags: a search writes its own files into --out.
LEFT_OUT = ("save", "metrics_out", "plot", "checkpoint", "resume")
#: run_study's arguments that are flags here.
ARGUMENTS = ("strategy", "sampler", "trials", "workers", "out", "storage", "study_name",
             "pruner", "study_seed", "startup_trials", "space")  # fmt: skip


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "tune",
        help="hyperparameter search (grid, random, Bayesian) with pruning, k-fold, parallel "
        "workers and a study database; needs deltaprop[tune]",
        description="Search hyperparameters with Optuna. Fixed keys: defaults < --config < "
        "flags; searched keys: --space (default: optimizer, lr, layers, units, activation, "
        "dropout). Writes trials.csv, best.toml (for `deltaprop train --config`), "
        "importances, plots, and the best configuration retrained on train+validation and "
        "tested once (best.safetensors, best_metrics.json) into --out. The same command "
        "again resumes the study.",
    )
    group = parser.add_argument_group("search")
    group.add_argument("--space", metavar="PATH",
                       help="TOML file with a [space] table, e.g. lr = { low = 1e-4, high = "
                       "1e-1, log = true }, hidden = [\"64\", \"128,64\"], batch_size = { low "
                       "= 16, high = 128, step = 16 }; it may also hold the recipe's [train] "
                       "table (read when --config is not given)")  # fmt: skip
    group.add_argument("--strategy", default="bayes", choices=("grid", "random", "bayes"),
                       help="grid (every combination of listed values), random, or bayes "
                       "(TPE; --sampler gp for a Gaussian process) (default: bayes)")  # fmt: skip
    group.add_argument(
        "--sampler",
        default="tpe",
        choices=("tpe", "gp"),
        help="the Bayesian sampler (default: tpe)",
    )
    group.add_argument("--trials", type=int, metavar="N",
                       help="trials in the study when done; a resumed study runs the rest "
                       "(default: the grid's size, or 20)")  # fmt: skip
    group.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="processes sharing the study, one BLAS thread each (default: 1)",
    )
    group.add_argument("--out", default="study", metavar="DIR",
                       help="output folder; holds the study's journal file unless --storage "
                       "(default: study)")  # fmt: skip
    group.add_argument("--storage", metavar="URL",
                       help="a database for the study instead of the journal file: "
                       "sqlite:///study.db, or postgresql://user@host/dbname for workers on "
                       "several machines")  # fmt: skip
    group.add_argument(
        "--study-name",
        default="deltaprop",
        metavar="NAME",
        help="the study's name in the storage (default: deltaprop)",
    )
    group.add_argument("--pruner", default="median", choices=("none", "median", "hyperband"),
                       help="stop poor trials early from their per-epoch validation scores "
                       "(default: median)")  # fmt: skip
    group.add_argument("--study-seed", type=int, metavar="N",
                       help="seeds the sampler (default: --seed); every trial trains with "
                       "--seed")  # fmt: skip
    group.add_argument("--startup-trials", type=int, metavar="N",
                       help="random trials before the Bayesian sampler models the results "
                       "(default: 10)")  # fmt: skip
    group.add_argument(
        "--no-retrain",
        dest="retrain",
        action="store_false",
        help="skip retraining the best configuration and testing it",
    )
    add_recipe_options(parser, exclude=LEFT_OUT)
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> None:
    from ..tune import Space, run_study

    space = Space.from_toml(args.space, where="--space") if args.space else None
    if args.space and not args.config and _has_train_table(args.space):
        args.config = args.space
    recipe: Recipe = recipe_from_args(args)
    with (
        np.errstate(over="ignore", invalid="ignore", divide="ignore"),
        report.quiet(True, all_warnings=True),
        _flags_named(),
    ):
        run_study(
            recipe, space, strategy=args.strategy, sampler=args.sampler, trials=args.trials,
            workers=args.workers, out=args.out, storage=args.storage,
            study_name=args.study_name, pruner=args.pruner, study_seed=args.study_seed,
            startup_trials=args.startup_trials, retrain=args.retrain, log=print,
        )  # fmt: skip


@contextmanager
def _flags_named() -> Iterator[None]:
    """run_study names its arguments (``workers: ...``); the user typed flags."""
    try:
        yield
    except ConfigError as exc:
        text = str(exc)
        for name in ARGUMENTS:
            if text.startswith(name + ":") or text.startswith(name + " "):
                raise ConfigError(flag(name) + text[len(name) :]) from None
        raise


def _has_train_table(path: str) -> bool:
    from ..recipe.spec import tomllib

    with open(path, "rb") as fh:  # read once already by Space.from_toml: it is valid TOML
        return isinstance(tomllib.load(fh).get("train"), dict)
