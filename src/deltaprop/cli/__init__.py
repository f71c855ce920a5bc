"""The ``deltaprop`` command (also ``python -m deltaprop``): one module per command, each with
``add_parser(sub)`` and the ``command(args)`` its parser dispatches to (``set_defaults``).

The CLI parses and prints; the library does the work (:mod:`deltaprop.recipe` for train and
diagnose). Settings of train and diagnose come from three layers, later ones winning: the
recipe's defaults, a TOML file (``--config``), command-line flags. Every failure the user can
cause ends as one line ``deltaprop: error: ...`` on stderr and exit code 2 (130 on Ctrl-C); no
traceback (an OSError that no command turned into a message is shown the same way; a closed
output pipe, as in ``deltaprop predict ... | head``, ends quietly with 141, as SIGPIPE would).
Every warning (deltaprop's, through :mod:`deltaprop.report`, and any library's) is one line
``deltaprop: warning: ...`` on stderr, without Python's source lines; ``train --quiet``
silences them. Nothing in the library imports this package.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from .. import __version__, parallel, report
from ..errors import DeltapropError
from ..recipe import TRAIN_OPTIONS, flag
from . import diagnose, distill, export, memo_demo, predict, synth, train, tune, visualize
from .options import Parser, check_writable, remedy_flags

__all__ = ["TRAIN_OPTIONS", "build_parser", "check_writable", "flag", "main", "remedy_flags"]


def build_parser() -> Parser:
    parser = Parser(
        prog="deltaprop",
        description="Train neural networks with a backpropagation engine you can read and check.",
    )
    parser.add_argument("--version", action="version", version=f"deltaprop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (train, predict, memo_demo, diagnose, visualize, tune, distill, export, synth):
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command ``argv`` names (default: ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        # Warnings (ours and scikit-learn's) as one line each, never Python's source lines.
        with report.terminal_warnings():
            args.func(args)
        sys.stdout.flush()  # a closed pipe fails here, caught below, not at exit
    except DeltapropError as exc:
        _error(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except BrokenPipeError:  # the reader (head, less) has gone: nothing to tell anyone
        _silence_stdout()
        return 141  # 128 + SIGPIPE, what a shell shows for a tool the signal ended
    except OSError as exc:  # a file error no command named an option for: still one line
        _error(f"error: {exc}")
        return 2
    return 0


def _error(text: str) -> None:
    """``deltaprop: TEXT`` on stderr in one write. Under ``mpiexec`` every rank that fails
    says so, and the launcher shows every rank's stderr: ranks other than 0 name themselves
    (``deltaprop: rank 1: error: ...``), so the lines of two ranks read as two reports, not as
    one printed twice. None is silenced: an error one rank alone met (a file missing on its
    host) would otherwise end with only the others' timeouts, its cause shown nowhere."""
    rank = parallel.rank()
    where = f"rank {rank}: " if rank else ""
    sys.stderr.write(f"deltaprop: {where}{text}\n")  # one write: two ranks' lines never mix
    sys.stderr.flush()


def _silence_stdout() -> None:
    # Python flushes stdout once more at exit; into a closed pipe that is a second
    # BrokenPipeError, printed as "Exception ignored ...". Point the descriptor at devnull.
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # replaced (a test's capture): nothing to do
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)
