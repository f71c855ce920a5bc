"""``deltaprop synth``: train a conditional GAN on a data set's training part
(:func:`deltaprop.gan.synthesize`) and write labelled synthetic rows to an NPZ file that
``deltaprop train --dataset`` reads and ``deltaprop train --synthetic`` mixes into training.

    deltaprop synth --dataset digits --epochs 300 --n 2000 --out synth.npz --plot synth/
"""

from __future__ import annotations

import argparse

import numpy as np

from .. import report
from ..errors import DeltapropError
from ..gan import synthesize
from ..gan.synth import MODELS

#: option -> what :func:`synthesize` calls it (its messages name the Python argument).
FLAGS = {"out": "--out", "n": "--n", "epochs": "--epochs", "seed": "--seed",
         "test_size": "--test-size", "label": "--label", "model": "--model",
         "batch_size": "--batch-size", "latent_dim": "--latent-dim", "lr": "--lr",
         "plot": "--plot", "plot_every": "--plot-every", "save": "--save",
         "dataset": "--dataset", "log_every": "--log-every"}  # fmt: skip


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "synth",
        help="train a conditional GAN on a data set and write labelled synthetic rows (NPZ)",
        description="Train a conditional GAN (deltaprop's own backprop: the generator learns "
        "through the discriminator) on the training part of a data set -- the rows "
        "`deltaprop train` with the same --seed and --test-size trains on -- and write --n "
        "generated rows, the classes in turn, to --out: an NPZ file that `deltaprop train "
        "--dataset` reads and `deltaprop train --synthetic` mixes into training.",
    )
    add = parser.add_argument
    add("--dataset", default="digits", help="a built-in classification data set or a "
        ".csv/.npz/IDX file (default: digits)")  # fmt: skip
    add("--out", required=True, metavar="PATH", help="the NPZ file to write (X, y, "
        "feature_names, target_names)")  # fmt: skip
    add("--n", type=int, default=2000, help="rows to generate (default: 2000)")
    add("--epochs", type=int, default=300, help="GAN training epochs (default: 300)")
    add("--model", default="auto", choices=MODELS, help="cnn (convolutional generator and "
        "discriminator, images only), mlp (dense, on the tabular encoding), or auto: cnn for "
        "images (default: auto)")  # fmt: skip
    add("--batch-size", type=int, default=64, help="rows per step (default: 64)")
    add("--latent-dim", type=int, default=32, help="noise size of the generator (default: 32)")
    add("--lr", type=float, default=2e-4, help="Adam's rate, both networks (default: 2e-4)")
    add("--seed", type=int, default=0, help="seeds the split and the GAN (default: 0)")
    add("--test-size", type=float, default=0.2, help="the test part left out of the GAN's "
        "training, as `deltaprop train` leaves it out (default: 0.2)")  # fmt: skip
    add("--label", default=None, help="label column (CSV) or array name (NPZ)")
    add("--plot", metavar="FOLDER", default=None,
        help="write loss_curves.png and, for images, samples_epoch_N.png grids (a row per "
        "class) here; needs deltaprop[plot]")  # fmt: skip
    add("--plot-every", type=int, default=None, help="epochs between sample grids "
        "(default: 10 grids over the run)")  # fmt: skip
    add("--save", metavar="PATH", default=None, help="also save the GAN as one model file")
    add("--log-every", type=int, default=10, help="print a line every N epochs (default: 10)")
    add("--quiet", action="store_true", help="print only the summary lines")
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> None:
    options = {key: getattr(args, key) for key in FLAGS}
    try:
        with (
            np.errstate(over="ignore", invalid="ignore", divide="ignore"),
            report.quiet(args.quiet, all_warnings=True),
        ):
            result = synthesize(**options, verbose=not args.quiet)
    except DeltapropError as exc:
        raise type(exc)(_flagged(str(exc))) from None
    counts = np.bincount(result.y, minlength=len(result.target_names))
    per = ", ".join(f"{name} {c}" for name, c in zip(result.target_names, counts))
    print(f"GAN trained on {result.n_train} rows of {args.dataset}: {result.verdict.status}")
    for line in result.verdict.findings:
        print(f"  - {line}")
    print(f"wrote {len(result.y)} synthetic rows ({per}) to {args.out}")
    if args.save:
        print(f"saved the GAN to {args.save}")
    if args.plot:
        print(f"wrote the plots to {args.plot}")


def _flagged(message: str) -> str:
    """``"epochs: expected ..."`` -> ``"--epochs: expected ..."``: the user typed flags."""
    key, sep, rest = message.partition(": ")
    return f"{FLAGS[key]}: {rest}" if sep and key in FLAGS else message
