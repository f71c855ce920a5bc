"""``deltaprop visualize``: a small MLP, one example (the data set's first row, standardized)
forward and backward with the engine, written as a self-contained HTML page that steps through
the forward pass, the loss, the backward pass and the update."""

from __future__ import annotations

import argparse

import numpy as np

from .. import backend, nn
from ..data import Standardizer, load_dataset
from ..errors import ConfigError, DeltapropError
from ..io import atomic_write
from ..recipe import parse_hidden
from ..recipe.outputs import check_distinct
from ..viz.backprop_page import MAX_UNITS, backprop_page, render_html
from .options import canonical, check_writable


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "visualize",
        help="write an HTML page stepping through backprop on one example",
        description="Build a small MLP, run one example (the data set's first row, "
        "standardized) forward and backward with the engine, and write a self-contained HTML "
        "page that steps through the forward pass, the loss, the backward pass and the update.",
    )
    parser.add_argument("--hidden", default="4,3", help="hidden widths (default: 4,3)")
    parser.add_argument("--activation", default="sigmoid", help="default: sigmoid",
                        type=canonical(nn.ACTIVATIONS), choices=nn.ACTIVATIONS,
                        metavar="ACTIVATION")  # fmt: skip
    parser.add_argument("--dataset", default="iris", help="name or file (default: iris)")
    parser.add_argument("--lr", type=float, default=0.1, help="SGD step (default: 0.1)")
    parser.add_argument("--seed", type=int, default=0, help="initial weights (default: 0)")
    parser.add_argument("--out", default="backprop.html", help="default: backprop.html")
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> None:
    hidden = parse_hidden(args.hidden, "--hidden")
    if any(h > MAX_UNITS for h in hidden):
        raise ConfigError(f"--hidden: at most {MAX_UNITS} units per layer, got {args.hidden!r}")
    if not args.lr > 0:
        raise ConfigError(f"--lr: expected a positive number, got {args.lr!r}")
    check_writable(args.out, "--out")
    check_distinct({"--out": args.out}, {"--dataset": args.dataset})
    backend.seed(args.seed)
    try:
        ds = load_dataset(args.dataset, seed=args.seed)
    except DeltapropError as exc:
        raise type(exc)(f"--dataset: {exc}") from None
    if ds.X.shape[1] > MAX_UNITS:
        raise ConfigError(
            f"--dataset: {ds.name} has {ds.X.shape[1]} features; the page draws at most "
            f"{MAX_UNITS} inputs (try iris, moons, xor or a small CSV)"
        )
    classification = ds.task == "classification"
    X = Standardizer().fit_transform(ds.X).astype(np.float64)
    n_out = ds.n_classes if classification else (1 if ds.y.ndim == 1 else ds.y.shape[1])
    model = nn.mlp(X.shape[1], hidden, n_out, args.activation, "default")
    for p in model.parameters():
        p.data = p.data.astype(np.float64)
    try:
        loss = "cross_entropy" if classification else "mse"
        data = backprop_page(model, X[0], ds.y[0], None, loss=loss, lr=args.lr)
    except DeltapropError as exc:
        raise type(exc)(f"--hidden/--dataset: {exc}") from None
    try:  # written here, not by backprop_page: a write error names --out, and is atomic
        atomic_write(args.out, render_html(data).encode("utf-8"))
    except DeltapropError as exc:
        raise ConfigError(f"--out: {exc}") from None
    sizes = "-".join(map(str, data["sizes"]))
    print(f"wrote {args.out}: a {sizes} network, {len(data['steps'])} steps, "
          f"loss {data['loss']:.4g}")  # fmt: skip
