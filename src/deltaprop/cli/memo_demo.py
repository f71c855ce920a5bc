"""``deltaprop memo-demo``: the chain rule path by path against reverse mode (multiplication
counts, naive gradients checked against the engine's, timings), printed by
:func:`deltaprop.diagnostics.memo.run_demo`."""

from __future__ import annotations

import argparse

from ..diagnostics.memo import run_demo
from ..errors import ConfigError
from .options import check_writable


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "memo-demo",
        help="count and time the chain rule path by path against reverse mode (memoization)",
        description="Multiplications of the path-by-path chain rule vs backprop for MLPs of "
        "growing depth; naive gradients checked against the engine's and timed.",
    )
    parser.add_argument("--max-depth", type=int, default=6, help="deepest MLP (default: 6)")
    parser.add_argument("--width", type=int, default=None, help="one width (default: 2, 3 and 4)")
    parser.add_argument("--activation", default="tanh", help="tanh or sigmoid (default: tanh)")
    parser.add_argument("--plot", metavar="PATH", default=None, help="write a PNG against depth")
    parser.add_argument(
        "--checkpoint", action="store_true", help="also measure nn.Checkpointed's memory and time"
    )
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> None:
    check_writable(args.plot, "--plot")
    try:
        run_demo(args.max_depth, args.width, args.plot, args.checkpoint, args.activation)
    except ConfigError as exc:  # the library names its arguments; the user typed flags
        raise ConfigError(as_flags(str(exc))) from None


# run_demo's argument names -> the flags that set them
FLAGS = {"max_depth": "--max-depth", "widths": "--width", "width": "--width",
         "activation": "--activation", "plot": "--plot"}  # fmt: skip


def as_flags(message: str) -> str:
    """``"max_depth: expected ..."`` -> ``"--max-depth: expected ..."``."""
    name, sep, rest = message.partition(":")
    return FLAGS[name] + sep + rest if sep and name in FLAGS else message
