"""A small builder of ONNX graphs on the onnx package's helper API: named values, nodes,
initializers (the weights), and the dtype of the model's floats.

Every value gets a unique name made from the dotted path of the layer that made it
(``"2.block.0/MatMul"``), so an exported graph reads like the model it came from in Netron.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: The operator set the exporter writes: 17 has LayerNormalization, and onnxruntime has
#: run every operator used here at this version for years.
OPSET = 17


class Graph:
    """The nodes and initializers of one graph under construction.

    ``dtype`` is the model's float dtype (float32 or float64): every constant made with
    :meth:`const` takes it unless an array of another dtype is given on purpose (indices).
    """

    def __init__(self, onnx: Any, dtype: np.dtype) -> None:
        self.onnx = onnx  # the onnx package, imported by the caller (an optional dependency)
        self.dtype = np.dtype(dtype)
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._names: set[str] = set()

    def name(self, base: str) -> str:
        """``base``, or ``base_1``, ``base_2``, ... when taken."""
        name, i = base, 0
        while name in self._names:
            i += 1
            name = f"{base}_{i}"
        self._names.add(name)
        return name

    def const(self, where: str, array: Any, keep_dtype: bool = False) -> str:
        """An initializer holding ``array`` (cast to the model's float dtype unless
        ``keep_dtype``); returns its name."""
        value = np.asarray(array)
        if not keep_dtype:
            value = value.astype(self.dtype)
        name = self.name(where)
        tensor = self.onnx.numpy_helper.from_array(np.ascontiguousarray(value), name)
        self.initializers.append(tensor)
        return name

    def scalar(self, where: str, value: float) -> str:
        """A 0-d constant of the model's float dtype."""
        return self.const(where, np.array(value))

    def node(self, op: str, inputs: list[str], where: str, **attributes: Any) -> str:
        """Append one ``op`` node reading ``inputs`` (``""`` for an optional input left out);
        returns the name of its (single) output."""
        out = self.name(f"{where}/{op}")
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [out], name=out, **attributes))
        return out

    def elem_type(self, dtype: Any) -> int:
        """The TensorProto element type of a NumPy dtype."""
        return self.onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
