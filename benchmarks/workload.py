"""What every method of the MLP benchmark trains: the recipe, the data and the initial weights.

Every method (see ``competitors.py``) trains the same float32 network from the same weights on
the same seeded data, so that their times compare and ``--check`` can compare their weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LR = 0.01  # SGD
ADAM_LR = 1e-3  # Adam, with torch's default betas and eps
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
DROPOUT = 0.2
BN_EPS = 1e-5  # BatchNorm1d's defaults
BN_MOMENTUM = 0.1
N_CLASSES = 10
SEED = 0


@dataclass(frozen=True)
class Case:
    """One benchmark case: an MLP, its batch size, the samples per epoch and the recipe."""

    name: str
    sizes: tuple[int, ...]  # input, hidden..., output
    batch: int
    n: int  # samples per epoch (full run)
    optimizer: str = "sgd"  # or "adam"
    bn_dropout: bool = False  # Linear -> BatchNorm1d -> ReLU -> Dropout per hidden layer

    @property
    def descent(self) -> str:
        return "stochastic" if self.batch == 1 else "minibatch"

    @property
    def lr(self) -> float:
        return ADAM_LR if self.optimizer == "adam" else LR


class Unavailable(Exception):
    """The method cannot run here (an optional package is missing)."""


class NotApplicable(Exception):
    """The method has no version of this case (sklearn has no batch norm): its cells read n/a."""


def make_data(d: int, n: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Seeded synthetic classification data: 10 Gaussian blobs in d dims, X (n, d) float32 and
    y (n,) int64."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((N_CLASSES, d), dtype=np.float32)
    y = rng.integers(0, N_CLASSES, n, dtype=np.int64)
    X = rng.standard_normal((n, d), dtype=np.float32)
    X += 0.5 * centers[y]
    return X, y


def init_weights(sizes: tuple[int, ...], seed: int = SEED) -> list[tuple[np.ndarray, np.ndarray]]:
    """He-normal weights W (in, out) and zero biases (out,), float32: every method starts from
    these."""
    rng = np.random.default_rng(seed + 1)
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        w = rng.standard_normal((fan_in, fan_out), dtype=np.float32) * np.float32(
            np.sqrt(2.0 / fan_in)
        )
        layers.append((w, np.zeros(fan_out, dtype=np.float32)))
    return layers


def init_bn(case: Case) -> list[list[np.ndarray]]:
    """Per hidden layer of c units: [gamma (ones), beta (zeros), running_mean (zeros),
    running_var (ones)], each (c,) float32."""
    ones, zeros = np.ones, np.zeros
    return [
        [ones(c, np.float32), zeros(c, np.float32), zeros(c, np.float32), ones(c, np.float32)]
        for c in case.sizes[1:-1]
    ]
