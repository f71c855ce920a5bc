"""Normalization ops, by their old import path: batch norm lives in
:mod:`deltaprop.ops.norm_batch`, layer norm in :mod:`deltaprop.ops.norm_layer`, and what they
share (the math, the memo, the affine part) in :mod:`deltaprop.ops.norm_common`."""

from __future__ import annotations

from .norm_batch import BatchNorm, BatchNormEval, batch_norm
from .norm_layer import LayerNorm, layer_norm

__all__ = ["BatchNorm", "BatchNormEval", "LayerNorm", "batch_norm", "layer_norm"]
