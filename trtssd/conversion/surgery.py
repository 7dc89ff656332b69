"""onnx-graphsurgeon helpers shared by the converters."""

from __future__ import annotations

import numpy as np


def dynamic_batch_reshapes(graph) -> None:
    """Batch-1 exports bake ``1`` into Reshape targets; make each copy the batch instead (ONNX
    Reshape's ``0`` = "this dimension of the input"). ``graph``: an onnx_graphsurgeon Graph, edited
    in place."""
    import onnx_graphsurgeon as gs

    for node in graph.nodes:
        if node.op == "Reshape" and isinstance(node.inputs[1], gs.Constant):
            shape = np.array(node.inputs[1].values)
            if shape.ndim == 1 and shape.size >= 2 and shape[0] == 1:
                shape = shape.copy()
                shape[0] = 0
                node.inputs[1] = gs.Constant(f"{node.name}_dynamic_shape", shape)
