"""Data: built-in data sets, files and image folders, validation, splits, and batching for the
descent modes."""

from .augment import Augment
from .checks import check_features, check_labels, check_targets, check_X_y, infer_task
from .columns import guess_task
from .datasets import DATASETS, Dataset, load_dataset, load_idx, make_spirals
from .images import as_images
from .loader import DESCENTS, DataLoader, iterate_batches, n_batches, resolve_batch_size
from .preprocess import Preprocessor
from .split import Standardizer, kfold_indices, train_test_split

__all__ = [
    "Augment",
    "DATASETS",
    "DESCENTS",
    "DataLoader",
    "Dataset",
    "Preprocessor",
    "Standardizer",
    "as_images",
    "check_X_y",
    "check_features",
    "check_labels",
    "check_targets",
    "guess_task",
    "infer_task",
    "iterate_batches",
    "kfold_indices",
    "load_dataset",
    "load_idx",
    "make_spirals",
    "n_batches",
    "resolve_batch_size",
    "train_test_split",
]
