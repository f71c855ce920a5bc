"""Synthetic data from deltaprop's conditional GAN: is it worth training on? (issue 13, item 4)

Three tables, medians over seeds (each seed: its own stratified 80/20 split, GAN and MLP):

1. train-on-synthetic, test-on-real (TSTR): a GAN trained on the real training part generates
   as many rows as that part has, classes in the same shares; a fixed MLP trained on those
   rows alone is scored on the real test part, against the same MLP trained on the real
   training part (TRTR). Goal: TSTR >= 90% of TRTR on the tabular sets.
2. scarce data: 10 real rows per class alone, vs those plus 100 synthetic rows per class from a
   GAN trained on the same 10 per class, vs SMOTE (imbalanced-learn) oversampling the 10 to
   110 per class; the same fixed MLP, scored on the real test part.
3. wall time per GAN epoch, deltaprop vs the same networks and step in PyTorch on the CPU.

The fixed MLP is deltaprop's: 64 hidden ReLU units, Adam 1e-3, 100 epochs, minibatch 32,
features standardized on the rows it trains on. wine and breast cancer use the tabular GAN
(dense networks on the mode-specific encoding); digits the convolutional one.

    python benchmarks/gan.py                          # all three tables, 5 seeds
    python benchmarks/gan.py --sets wine --seeds 1 --epochs 50   # a quick look
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import deltaprop as dp
from deltaprop.data import load_dataset, train_test_split
from deltaprop.gan import ConditionalGAN
from deltaprop.report import quiet

SETS = ("wine", "breast_cancer", "digits")
SCARCE_PER_CLASS = 10
SCARCE_SYNTHETIC = 100


def mlp_accuracy(X, y, X_test, y_test, n_classes, seed):
    """The fixed MLP, trained on (X, y), scored on the real test part."""
    X = X.reshape(len(X), -1)
    X_test = X_test.reshape(len(X_test), -1)
    mean, std = X.mean(0), X.std(0)
    std = np.where(std > 0, std, 1.0)
    dp.seed(seed)
    model = dp.nn.mlp(X.shape[1], [64], n_classes)
    trainer = dp.Trainer(model, loss=dp.nn.CrossEntropyLoss(),
                         optimizer=dp.optim.Adam(model.parameters(), lr=1e-3),
                         metrics=["accuracy"])  # fmt: skip
    with quiet():
        trainer.fit((X - mean) / std, y, epochs=100, batch_size=32, seed=seed, verbose=False)
        return float(trainer.evaluate((X_test - mean) / std, y_test)["accuracy"])


def make_gan(name, ds):
    if name == "digits":
        return ConditionalGAN(kind="image", image_shape=ds.image_shape)
    return ConditionalGAN(kind="tabular")


def epochs_for(name, args):
    return args.image_epochs if name == "digits" else args.epochs


def tstr(name, seed, args):
    ds = load_dataset(name)
    Xtr, Xte, ytr, yte = train_test_split(ds.X, ds.y, test_size=0.2, stratify=True, seed=seed)
    k = ds.n_classes
    gan = make_gan(name, ds)
    start = time.perf_counter()
    gan.fit(Xtr, ytr, epochs=epochs_for(name, args), seed=seed, check_collapse=False)
    seconds = time.perf_counter() - start
    labels = gan.classes_[np.random.default_rng(seed).permutation(ytr)]  # same class shares
    Xs, ys = gan.sample(len(ytr), labels=labels, seed=seed)
    real = mlp_accuracy(Xtr, ytr, Xte, yte, k, seed)
    synthetic = mlp_accuracy(Xs, ys, Xte, yte, k, seed)
    return real, synthetic, seconds


def scarce(name, seed, args):
    from imblearn.over_sampling import SMOTE

    ds = load_dataset(name)
    Xtr, Xte, ytr, yte = train_test_split(ds.X, ds.y, test_size=0.2, stratify=True, seed=seed)
    k = ds.n_classes
    rng = np.random.default_rng(seed)
    rows = np.concatenate([rng.choice(np.flatnonzero(ytr == c), SCARCE_PER_CLASS, replace=False)
                           for c in range(k)])  # fmt: skip
    Xf, yf = Xtr[rows], ytr[rows]
    alone = mlp_accuracy(Xf, yf, Xte, yte, k, seed)
    gan = make_gan(name, ds)
    gan.fit(Xf, yf, epochs=epochs_for(name, args), batch_size=32, seed=seed,
            check_collapse=False)  # fmt: skip
    Xs, ys = gan.sample(SCARCE_SYNTHETIC * k, seed=seed)
    with_gan = mlp_accuracy(np.r_[Xf, Xs.reshape(len(Xs), -1)], np.r_[yf, ys], Xte, yte, k, seed)
    target = {c: SCARCE_PER_CLASS + SCARCE_SYNTHETIC for c in range(k)}
    Xm, ym = SMOTE(sampling_strategy=target, k_neighbors=5, random_state=seed).fit_resample(Xf, yf)
    smote = mlp_accuracy(Xm, ym, Xte, yte, k, seed)
    return alone, with_gan, smote


def torch_epoch_seconds(gan, E, idx, batch_size, epochs):
    """The same networks (copied weights) and the same alternating step in PyTorch."""
    import torch
    from torch import nn as tnn

    def convert(seq):
        layers = []
        for m in seq:
            kind = type(m).__name__
            if kind == "Linear":
                lin = tnn.Linear(*m.weight.shape)
                lin.weight.data = torch.tensor(m.weight.numpy().T.copy())
                lin.bias.data = torch.tensor(m.bias.numpy())
                layers.append(lin)
            elif kind == "Conv2d":
                w = m.weight.numpy()
                conv = tnn.Conv2d(w.shape[1], w.shape[0], w.shape[2:], stride=m.stride,
                                  padding=m.padding)  # fmt: skip
                conv.weight.data = torch.tensor(w.copy())
                conv.bias.data = torch.tensor(m.bias.numpy())
                layers.append(conv)
            elif kind == "BatchNorm1d":
                layers.append(tnn.BatchNorm1d(m.weight.shape[0]))
            elif kind == "BatchNorm2d":
                layers.append(tnn.BatchNorm2d(m.weight.shape[0]))
            elif kind == "ReLU":
                layers.append(tnn.ReLU())
            elif kind == "LeakyReLU":
                layers.append(tnn.LeakyReLU(m.negative_slope))
            elif kind == "Dropout":
                layers.append(tnn.Dropout(m.p))
            elif kind == "Tanh":
                layers.append(tnn.Tanh())
            elif kind == "Flatten":
                layers.append(tnn.Flatten())
            elif kind == "Unflatten":
                layers.append(tnn.Unflatten(1, m.shape))
            elif kind == "Upsample":
                layers.append(tnn.Upsample(scale_factor=2, mode="nearest"))
            else:
                raise ValueError(kind)
        return tnn.Sequential(*layers)

    G, D = convert(gan.generator), convert(gan.discriminator)
    opt_g = torch.optim.Adam(G.parameters(), lr=gan.lr, betas=gan.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=gan.lr, betas=gan.betas)
    bce = tnn.BCEWithLogitsLoss()
    k = len(gan.classes_)
    spans = gan.space.transformer.spans if gan.space.transformer is not None else None
    E_t = torch.tensor(E)
    onehot_all = torch.eye(k)[torch.tensor(idx)]
    gen = torch.Generator().manual_seed(0)

    def generate(z, onehot):
        out = G(torch.cat([z, onehot], 1))
        if spans is None:
            return out
        parts = []
        for a, b, kind in spans:  # the tabular activations, Gumbel-softmax as deltaprop's
            block = out[:, a:b]
            parts.append(torch.tanh(block) if kind == "tanh"
                         else tnn.functional.gumbel_softmax(block, tau=gan.tau))  # fmt: skip
        return torch.cat(parts, 1)

    def discriminate(x, onehot):
        if x.ndim == 4:
            planes = onehot[:, :, None, None].expand(-1, -1, *x.shape[2:])
            return D(torch.cat([x, planes], 1))
        return D(torch.cat([x, onehot], 1))

    times = []
    n = len(E)
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(n, generator=gen)
        for at in range(0, n, batch_size):
            rows = order[at : at + batch_size]
            if len(rows) < 2:
                continue
            x, onehot = E_t[rows], onehot_all[rows]
            m = len(rows)
            with torch.no_grad():
                fake = generate(torch.randn(m, gan.latent_dim, generator=gen), onehot)
            loss_d = bce(discriminate(x, onehot), torch.ones(m, 1)) + bce(
                discriminate(fake, onehot), torch.zeros(m, 1))  # fmt: skip
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            fake = generate(torch.randn(m, gan.latent_dim, generator=gen), onehot)
            loss_g = bce(discriminate(fake, onehot), torch.ones(m, 1))
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:] if len(times) > 1 else times)


def timing(name, args):
    import torch

    torch.set_num_threads(1)
    ds = load_dataset(name)
    Xtr, _, ytr, _ = train_test_split(ds.X, ds.y, test_size=0.2, stratify=True, seed=0)
    gan = make_gan(name, ds)
    gan.fit(Xtr, ytr, epochs=args.time_epochs, seed=0, check_collapse=False)
    ours = statistics.median(gan.history.history["epoch_seconds"][1:])
    E = gan.space.encode(Xtr)
    idx = np.searchsorted(gan.classes_, ytr)
    theirs = torch_epoch_seconds(gan, E, idx, 64, args.time_epochs)
    return ours, theirs


def med(values):
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=300, help="tabular GAN epochs")
    parser.add_argument("--image-epochs", type=int, default=30, help="digits GAN epochs")
    parser.add_argument("--time-epochs", type=int, default=4)
    parser.add_argument("--tables", default="tstr,scarce,time")
    args = parser.parse_args()
    sets = [s for s in args.sets.split(",") if s]
    tables = args.tables.split(",")
    seeds = range(args.seeds)
    print(f"seeds {list(seeds)}; tabular GAN {args.epochs} epochs, digits (cnn) "
          f"{args.image_epochs} epochs; medians over seeds", flush=True)  # fmt: skip
    if "tstr" in tables:
        print("\n| data set | train on real | train on synthetic | ratio | GAN fit (s) |")
        print("|---|---|---|---|---|")
        for name in sets:
            runs = [tstr(name, s, args) for s in seeds]
            real, syn = med([r[0] for r in runs]), med([r[1] for r in runs])
            ratios = [r[1] / r[0] for r in runs]
            print(f"| {name} | {real:.3f} | {syn:.3f} | {med(ratios):.1%} (min {min(ratios):.1%}) "
                  f"| {med([r[2] for r in runs]):.0f} |", flush=True)  # fmt: skip
    if "scarce" in tables:
        print(f"\n| data set ({SCARCE_PER_CLASS} real rows per class) | real alone | "
              f"+ {SCARCE_SYNTHETIC}/class GAN | SMOTE to {SCARCE_PER_CLASS + SCARCE_SYNTHETIC}"
              "/class |")  # fmt: skip
        print("|---|---|---|---|")
        for name in sets:
            runs = [scarce(name, s, args) for s in seeds]
            print(f"| {name} | " + " | ".join(f"{med([r[i] for r in runs]):.3f}"
                                             for i in range(3)) + " |", flush=True)  # fmt: skip
    if "time" in tables:
        print("\n| data set | deltaprop s/epoch | PyTorch CPU s/epoch | ratio |")
        print("|---|---|---|---|")
        for name in sets:
            ours, theirs = timing(name, args)
            print(f"| {name} | {ours:.3f} | {theirs:.3f} | {ours / theirs:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
