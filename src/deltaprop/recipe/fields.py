"""The one table of a run's keys: name, default, type and help text of every field.

This table is the single source of :class:`~deltaprop.recipe.Recipe`'s fields (and their
defaults), of the keys a TOML file may hold, and of ``deltaprop train``'s flags (the CLI builds
argparse from it; the help texts are these). ``kind`` is the type a TOML value or a flag has
(``hidden`` is written ``"128,64"`` on the command line; the recipe keeps a tuple of ints).
A key of kind ``list`` (``architecture``, a list of tables) has no flag: it is written in TOML
(``--config``) or Python only.

A key is shown as its user typed it: ``lr`` from Python or TOML, ``--lr`` from the command
line (:func:`key_display`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..checks import check_choice


@dataclass(frozen=True)
class FieldSpec:
    """One key of a run: ``name`` (a Python identifier; TOML also takes ``log-every``),
    ``default``, ``kind`` (str, int, float, bool; or list: no flag) and the ``help`` text of its
    flag."""

    name: str
    default: Any
    kind: type
    help: str

    @property
    def has_flag(self) -> bool:
        """Whether ``deltaprop train`` has a flag for it (a list of tables has none)."""
        return self.kind is not list

    @property
    def flag(self) -> str:
        """``"--log-every"`` for ``log_every``."""
        return flag(self.name)


FIELDS: tuple[FieldSpec, ...] = tuple(FieldSpec(*row) for row in (
    ("dataset", "digits", str, "a built-in data set name or a .csv/.npz file"),
    ("label", None, str, "label column (CSV) or array name (NPZ) (default: last column / 'y')"),
    ("task", None, str, "classification or regression (default: guessed from the label "
     "column, and the guess is printed)"),
    ("delimiter", None, str, "CSV field separator, e.g. ';' (default: ',')"),
    ("drop", None, str, "CSV columns to ignore, comma separated"),
    ("impute", None, str, "fill missing CSV values with the training part's mean or median "
     "(default: missing values are an error)"),
    ("class_weight", None, str, "balanced: weight classes by n_rows / (n_classes * rows of the "
     "class), scikit-learn's rule (default: none)"),
    ("model", "mlp", str, "the network: mlp (dense layers of --hidden widths) or cnn (conv "
     "blocks of --channels widths, each 3x3 conv, relu, 2x2 max-pool, then dense layers of "
     "--hidden widths; needs image data: digits, IDX/MNIST files, a folder of images per class, "
     "an NPZ file of (N, C, H, W) images)"),
    ("hidden", None, str, "hidden layer widths, comma separated ('' for none); with --model "
     "cnn the dense layers after the conv blocks (default: 256,128 for mlp, 128 for cnn)"),
    ("channels", "32,64", str, "--model cnn: output channels of each conv block, comma "
     "separated"),
    ("residual", False, bool, "skip connections: each hidden layer (mlp) or conv block (cnn) "
     "computes x + layer(x), through a learned projection where the width changes"),
    ("architecture", None, list, "the network as a list of layers (TOML: [[architecture]] "
     "tables such as { type = \"conv2d\", out_channels = 16, kernel_size = 3 }; no flag: "
     "give it in a --config file); replaces model, hidden, channels and the other layer keys"),
    ("activation", "relu", str, "hidden activation: relu, leaky_relu, elu, gelu, sigmoid, tanh"),
    ("init", "default", str, "weight init: default (PyTorch's U(+-1/sqrt(fan_in))), zeros, ones, "
     "constant:V, normal, xavier, he, lecun, ..."),
    ("optimizer", "sgd", str, "sgd, momentum, nesterov, adam, adamw, rmsprop, adagrad"),
    ("lr", None, float, "learning rate (default: per optimizer and --descent, optim.default_lr;"
     " minibatch: 0.1 for sgd, 0.05 momentum/nesterov, 0.001 adam/adamw/rmsprop, 0.01 "
     "adagrad; stochastic: smaller, 0.01 for sgd; batch: larger)"),
    ("momentum", None, float, "momentum of sgd/momentum/nesterov/rmsprop (default: the "
     "optimizer's own: 0 for sgd and rmsprop, 0.9 for momentum and nesterov)"),
    ("weight_decay", 0.0, float, "weight decay (decoupled for adamw, an L2 gradient term else)"),
    ("schedule", "none", str, "learning-rate schedule: none, step, multistep, exponential, "
     "cosine, cosine-restarts, plateau"),
    ("warmup", 0, int, "epochs of linear learning-rate warm-up before the schedule"),
    ("epochs", 30, int, "passes over the training set"),
    ("descent", "minibatch", str, "batch (1 update/epoch), stochastic (1 per example), minibatch"),
    ("batch_size", 32, int, "examples per update with --descent minibatch"),
    ("l1", 0.0, float, "L1 penalty on the weights, added to the loss"),
    ("l2", 0.0, float, "L2 penalty on the weights, added to the loss"),
    ("dropout", 0.0, float, "dropout probability after each hidden layer"),
    ("batchnorm", None, bool, "batch normalization after each hidden Linear (and each conv "
     "of a cnn) (default: off for --model mlp, on for cnn)"),
    ("layernorm", False, bool, "layer normalization after each hidden Linear"),
    # --- synthetic training data (issue 13) ---
    ("synthetic", None, str, "an NPZ (or CSV) file of labelled synthetic rows (deltaprop "
     "synth writes one) mixed into the training rows only, never into validation or test "
     "(default: none)"),
    ("augment", None, str, "augment every training batch, names separated by commas: shift, "
     "rotate, flip, cutout (image data), noise, neighbours (classification), mixup; e.g. "
     "shift,noise,mixup (default: none)"),
    ("clip_norm", None, float, "clip the global gradient norm to this value (default: off)"),
    ("clip_value", None, float, "clip each gradient entry to [-V, V] (default: off)"),
    ("early_stopping", None, int, "stop after this many epochs without val_loss improvement, "
     "keeping the best weights (default: off)"),
    ("validation_split", 0.1, float, "fraction of the training part held out for validation: "
     "reported, and plotted in the learning curves (0: none, train on the whole part)"),
    ("cv", None, int, "k-fold cross-validation on the training part before the final fit"),
    ("log_every", 5, int, "print a progress line every N epochs"),
    ("seed", 0, int, "random seed: the same seed gives the same run, bit for bit"),
    ("test_size", 0.2, float, "fraction held out (stratified) for the final test"),
    # -- scarce labels and semi-supervised training (issue 12) --
    ("labels_per_class", None, int, "keep K labeled rows per class of the training part "
     "(chosen by --seed) and treat the others as unlabeled; --validation-split then holds "
     "out a share of the labeled rows (default: every training row labeled)"),
    ("semi", "none", str, "semi-supervised training on the unlabeled rows of "
     "--labels-per-class: none, self-training (pseudo-labels, in rounds) or mean-teacher "
     "(consistency with a moving average of the weights); with either, the labeled rows are "
     "oversampled so an epoch is one pass over as many rows as are unlabeled"),
    ("semi_threshold", None, float, "self-training: the least class probability for a "
     "pseudo-label, in [0, 1) (default: 0.9)"),
    ("semi_rounds", None, int, "self-training: rounds with pseudo-labels after the "
     "labeled-only one, each of --epochs epochs; round r labels up to r/R of the unlabeled "
     "rows (default: 4)"),
    ("semi_weight", None, float, "mean-teacher: the consistency loss's weight after the "
     "ramp-up (default: 5)"),
    ("semi_ramp_up", None, int, "mean-teacher: epochs over which the consistency weight "
     "ramps up, exp(-5 (1 - t)^2) (default: 5)"),
    ("semi_ema_decay", None, float, "mean-teacher: the teacher's moving-average decay of the "
     "weights, in [0, 1) (default: 0.99)"),
    ("semi_augment", None, str, "mean-teacher: the augmentation of the unlabeled rows, names "
     "as --augment (not neighbours or mixup, which need labels) (default: noise)"),
    ("drop_last", False, bool, "skip each epoch's last minibatch when it is short"),
    ("compile", False, bool, "record the first training step's kernels and replay them "
     "(buffers allocated once, no graph): the same results, faster steps"),
    ("lanes", 1, int, "with --compile: split each batch of 32 rows or more over this many "
     "threads, one BLAS thread each, for steps with convolution or pooling (others run as one "
     "lane); the weights then differ from one lane's by float rounding"),
    ("checkpoint", None, str, "write the full training state here after every epoch, "
     "atomically (default: none)"),
    ("resume", None, str, "continue from a --checkpoint file; the same path for both "
     "restarts a crashed run until it completes (default: none)"),
    ("save", None, str, "write the trained model to this .safetensors file (default: none)"),
    ("metrics_out", None, str, "write the final metrics to this JSON file (default: none)"),
    ("plot", None, str, "write learning_curves.png (and decision_boundary.png for 2-feature "
     "data) into this folder, created if missing; needs deltaprop[plot] (default: none)"),
    # experiment tracking (issue 16): optional extras, imported only when asked for
    ("tensorboard", None, str, "write TensorBoard event files (scalars per epoch, learning "
     "rate, histograms every 5 epochs) into this folder, created if missing; needs "
     "deltaprop[tensorboard] (default: none)"),
    ("mlflow", False, bool, "log the run to MLflow: the settings as parameters, metrics per "
     "epoch, the model file as an artifact; into ./mlruns (MLflow's SQLite store) unless "
     "MLFLOW_TRACKING_URI is set; needs deltaprop[mlflow]"),
    ("distributed", False, bool, "data-parallel training on MPI: run under mpiexec -n N; each "
     "global batch of --batch-size rows is split over the N ranks, rank 0 prints and writes "
     "the files; needs deltaprop[dist]"),
    ("device", "cpu", str, "where the arrays live: cpu, or cuda (a GPU, through CuPy; needs "
     "deltaprop[gpu] and a CUDA device)"),
    # transfer learning and knowledge distillation (issue 12)
    ("init_from", None, str, "start from the weights of this file: a deltaprop model "
     "(.safetensors from --save) or a PyTorch state_dict saved with safetensors; an output "
     "layer of another size (other classes) starts fresh (default: none)"),
    ("freeze", None, str, "layers that keep their weights, by index as the model prints them "
     "(an mlp's Linear, activation, ... count one each): 0-1, 0,2 (default: none)"),
    ("head_lr", None, float, "learning rate of the output layer (default: --lr)"),
    ("body_lr", None, float, "learning rate of every layer below the output layer "
     "(default: --lr)"),
    ("teacher", None, str, "distill: the trained teacher's model file"),
    ("temperature", None, float, "distill: temperature T > 0 of the teacher's soft targets "
     "(default: 4)"),
    ("alpha", None, float, "distill: weight in [0, 1] of the teacher's soft targets; the "
     "labels get 1 - alpha (default: 0.5)"),
))  # fmt: skip

#: Keys that only one command takes (no flag elsewhere): a distillation run's.
COMMAND_KEYS: dict[str, tuple[str, ...]] = {"distill": ("teacher", "temperature", "alpha")}

#: name -> FieldSpec, in the table's order.
FIELD_SPECS: dict[str, FieldSpec] = {f.name: f for f in FIELDS}

#: Today's form of the table, ``name -> (default, kind, help)`` (kept for callers of the old
#: ``deltaprop.cli.TRAIN_OPTIONS``).
TRAIN_OPTIONS: dict[str, tuple[Any, type, str]] = {
    f.name: (f.default, f.kind, f.help) for f in FIELDS
}

SOURCES = ("python", "cli")


def flag(name: str) -> str:
    """The command-line flag of a key: ``"log_every"`` -> ``"--log-every"``."""
    return "--" + name.replace("_", "-")


def key_display(source: str = "python") -> Callable[[str], str]:
    """How error messages name a key: as is for ``"python"`` (also TOML), as a flag for
    ``"cli"``."""
    source = check_choice(source, SOURCES, "source")
    return flag if source == "cli" else str
