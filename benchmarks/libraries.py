"""The other libraries' versions of the benchmark's epoch: PyTorch CPU eager and
scikit-learn's MLPClassifier. Both are optional: without them their columns are skipped.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable

import numpy as np
import workload as wl
from workload import Case, NotApplicable, Unavailable, init_weights

# --check sets this: PyTorch's dropout then takes its masks from the NumPy stream the other
# methods use (see the docstring of mlp.py), so that the weights can be compared.
TORCH_NUMPY_MASKS = False


def setup_torch(case: Case, X: np.ndarray, y: np.ndarray) -> Callable:
    """nn.Sequential of the shared initial weights (Linear's weight is (out, in) in torch),
    CrossEntropyLoss, optim.SGD (optim.Adam); X (n, d) float32, y (n,) int64."""
    try:
        import torch
    except ImportError as e:
        raise Unavailable("torch is not installed") from e
    torch.set_num_threads(os.cpu_count() or 1)
    rng = np.random.default_rng(wl.SEED + 2)

    class NumpyDropout(torch.nn.Module):
        """Dropout with the mask drawn from ``rng`` like deltaprop's (for --check only)."""

        def forward(self, x):
            keep = rng.random(tuple(x.shape), dtype=np.float32) >= wl.DROPOUT
            return x * torch.from_numpy(keep * np.float32(1.0 / (1.0 - wl.DROPOUT)))

    layers = []
    n_layers = len(case.sizes) - 1
    for k, (w, b) in enumerate(init_weights(case.sizes)):
        lin = torch.nn.Linear(w.shape[0], w.shape[1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w.T.copy()))
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if k < n_layers - 1:
            if case.bn_dropout:
                layers.append(
                    torch.nn.BatchNorm1d(w.shape[1], eps=wl.BN_EPS, momentum=wl.BN_MOMENTUM)
                )
            layers.append(torch.nn.ReLU())
            if case.bn_dropout:
                layers.append(NumpyDropout() if TORCH_NUMPY_MASKS else torch.nn.Dropout(wl.DROPOUT))
    model = torch.nn.Sequential(*layers)
    model.train()
    loss_fn = torch.nn.CrossEntropyLoss()
    if case.optimizer == "adam":
        opt = torch.optim.Adam(
            model.parameters(), lr=wl.ADAM_LR, betas=wl.ADAM_BETAS, eps=wl.ADAM_EPS
        )
    else:
        opt = torch.optim.SGD(model.parameters(), lr=wl.LR)
    B = case.batch

    def epoch():
        n = len(X)
        perm = rng.permutation(n)
        Xs, ys = torch.from_numpy(X[perm]), torch.from_numpy(y[perm])
        for i in range(0, n, B):
            opt.zero_grad()
            loss_fn(model(Xs[i : i + B]), ys[i : i + B]).backward()
            opt.step()

    def weights():
        def arr(t):
            return t.detach().numpy()

        lins = [m for m in model if isinstance(m, torch.nn.Linear)]
        bns = [m for m in model if isinstance(m, torch.nn.BatchNorm1d)]
        return (
            [(arr(m.weight).T, arr(m.bias)) for m in lins]
            + [(arr(m.weight), arr(m.bias)) for m in bns]
            + [(arr(m.running_mean), arr(m.running_var)) for m in bns]
        )

    epoch.weights = weights
    return epoch


def setup_sklearn(case: Case, X: np.ndarray, y: np.ndarray) -> Callable:
    """MLPClassifier (its own initial weights and batch order), one partial_fit per epoch."""
    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
    except ImportError as e:
        raise Unavailable("scikit-learn is not installed") from e
    if case.bn_dropout:
        raise NotApplicable("MLPClassifier has no batch norm or dropout")
    if case.optimizer == "adam":
        solver = {
            "solver": "adam",
            "beta_1": wl.ADAM_BETAS[0],
            "beta_2": wl.ADAM_BETAS[1],
            "epsilon": wl.ADAM_EPS,
        }
    else:
        solver = {"solver": "sgd", "momentum": 0.0, "nesterovs_momentum": False}
    clf = MLPClassifier(
        hidden_layer_sizes=case.sizes[1:-1],
        activation="relu",
        batch_size=case.batch,
        learning_rate_init=case.lr,
        **solver,
        max_iter=1,
        shuffle=True,
        alpha=0.0,
        tol=0.0,
        n_iter_no_change=10**9,
        random_state=wl.SEED,
    )
    classes = np.arange(wl.N_CLASSES)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    state = {"first": True}

    def epoch():
        if state["first"]:  # the first call also allocates the weights (sklearn's own init)
            state["first"] = False
            clf.partial_fit(X, y, classes=classes)
        else:
            clf.partial_fit(X, y)

    epoch.weights = lambda: list(zip(clf.coefs_, clf.intercepts_))
    return epoch
