"""ONNX export (the ``[onnx]`` extra): :func:`export_onnx` writes a model as an ONNX graph
that onnxruntime (or any ONNX runtime) runs without deltaprop.

>>> import numpy as np, deltaprop as dp
>>> from deltaprop import nn
>>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
>>> proto = dp.export_onnx(model, "model.onnx", np.zeros((1, 4)))  # doctest: +SKIP

The onnx package is imported only when a model is exported; the layers' ONNX forms are in
:mod:`.layers`, the graph builder in :mod:`.graph`.
"""

from .export import export_onnx
from .layers import exportable

__all__ = ["export_onnx", "exportable"]
