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


def simplify_for_backends(graph, input_name: str, input_hw: tuple[int, int]) -> None:
    """Rewrite what TF exports leave in the graph that the non-ONNX-Runtime backends need not
    implement (``graph``: an onnx_graphsurgeon Graph with the artifact's uint8 ``[batch, H, W, 3]``
    input, edited in place):

    * ``Sum`` (from ``AddN``, e.g. in TF.js exports) -> a chain of ``Add``;
    * ``BatchNormalization`` with constant statistics (unfused ``FusedBatchNorm`` of SSDLite heads)
      -> ``Mul`` + ``Add`` by per-channel constants (NCHW, channel axis 1);
    * ``Reshape`` targets computed from ``Shape`` (the box predictors' ``[batch, -1, 1, 4]``) ->
      constants with ``0`` ("copy the batch dimension") where evaluating them at batch 1 and 2
      shows only the batch entry follows the batch; the ``Shape``/``Gather``/``Slice`` chains then
      fall away.
    """
    import onnx_graphsurgeon as gs

    for node in [n for n in graph.nodes if n.op == "Sum" and len(n.inputs) > 1]:
        acc = node.inputs[0]
        for k, term in enumerate(node.inputs[1:]):
            last = k == len(node.inputs) - 2
            out = node.outputs[0] if last else gs.Variable(f"{node.name}_add{k}", dtype=node.outputs[0].dtype)
            graph.nodes.append(gs.Node("Add", name=f"{node.name}_add{k}", inputs=[acc, term], outputs=[out]))
            acc = out
        node.outputs = []
    for node in [n for n in graph.nodes if n.op == "BatchNormalization" and len(n.outputs) == 1
                 and all(isinstance(t, gs.Constant) for t in n.inputs[1:5])]:
        scale, bias, mean, var = (np.asarray(t.values, np.float64) for t in node.inputs[1:5])
        mul = scale / np.sqrt(var + float(node.attrs.get("epsilon", 1e-5)))
        add = bias - mean * mul
        mid = gs.Variable(f"{node.name}_scaled", dtype=np.float32)
        graph.nodes += [
            gs.Node("Mul", name=f"{node.name}_mul", inputs=[node.inputs[0], gs.Constant(f"{node.name}_k", mul.astype(np.float32).reshape(-1, 1, 1))], outputs=[mid]),
            gs.Node("Add", name=f"{node.name}_add", inputs=[mid, gs.Constant(f"{node.name}_b", add.astype(np.float32).reshape(-1, 1, 1))], outputs=[node.outputs[0]]),
        ]
        node.outputs = []
    graph.cleanup().toposort()
    _fold_batch_reshapes(graph, input_name, input_hw)
    graph.cleanup().toposort()


def _fold_batch_reshapes(graph, input_name: str, input_hw: tuple[int, int]) -> None:
    import onnx
    import onnx_graphsurgeon as gs
    import onnxruntime as ort

    reshapes = [n for n in graph.nodes if n.op == "Reshape" and not isinstance(n.inputs[1], gs.Constant)]
    if not reshapes:
        return
    model = gs.export_onnx(graph)
    names = list(dict.fromkeys(n.inputs[1].name for n in reshapes))
    model.graph.output.extend([onnx.helper.make_tensor_value_info(name, onnx.TensorProto.INT64, None) for name in names])
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    at = {b: dict(zip(names, sess.run(names, {input_name: np.zeros((b, *input_hw, 3), np.uint8)}))) for b in (1, 2)}
    for node in reshapes:
        one, two = (np.asarray(at[b][node.inputs[1].name]) for b in (1, 2))
        if one.ndim == 1 and one.shape == two.shape and one.size >= 2 and (one[1:] == two[1:]).all() \
                and one[0] == 1 and two[0] == 2:
            node.inputs[1] = gs.Constant(f"{node.name}_batch_shape", np.concatenate([[0], one[1:]]).astype(np.int64))
