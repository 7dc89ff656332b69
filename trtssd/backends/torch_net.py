"""A native ``torch.nn.Module`` built from the trtssd ONNX artifact's weights.

The artifact graph of an SSD is a plain feed-forward network of a handful of ONNX operators
(Cast, Sub, Mul, Transpose, Conv, Clip, Relu, Reshape, Concat, Sigmoid, ...). :func:`build_net`
maps every node onto a torch op once (convolutions become ``nn.Conv2d`` with the ONNX weights)
and :class:`SsdNet` replays that fixed program. No data-dependent control flow and no host
synchronisation, so the forward pass can be captured in a CUDA graph; convolutions run in
``channels_last`` memory format (NHWC, what cuDNN's fastest FP16 kernels want).

Unsupported operators raise :class:`~trtssd.errors.BackendError` naming the operator.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from trtssd.conversion.artifact import BOXES_NAME, INPUT_NAME, SCORES_NAME
from trtssd.errors import BackendError

SUPPORTED_OPS = ("Cast", "Sub", "Mul", "Add", "Div", "Transpose", "Conv", "Clip", "Relu", "Reshape",
                 "Concat", "Sigmoid", "Softmax", "Identity", "Squeeze", "Unsqueeze")


@dataclass(frozen=True)
class _Step:
    """One node of the program: ``outputs[0] = fn(*env[inputs])``."""

    op: str
    inputs: tuple[str, ...]
    output: str
    attrs: tuple  # op-specific constants (hashable, no tensors)
    module_index: int = -1  # index into SsdNet.convs for Conv
    const_index: tuple[int, ...] = ()  # indices into SsdNet constant buffers, per input (-1 = activation)


class SsdNet(nn.Module):
    """Replays the artifact graph: ``images [N, H, W, 3]`` (uint8 or float, RGB 0..255) ->
    ``(box_encodings [N, A, 4], class_scores [N, A, C])`` in the module's dtype."""

    def __init__(self, steps: list[_Step], convs: list[nn.Module], consts: list[torch.Tensor],
                 input_name: str, output_names: tuple[str, str]) -> None:
        super().__init__()
        self.steps = steps
        self.convs = nn.ModuleList(convs)
        for i, c in enumerate(consts):
            self.register_buffer(f"const{i}", c, persistent=False)
        self._n_consts = len(consts)
        self.input_name = input_name
        self.output_names = output_names

    @property
    def dtype(self) -> torch.dtype:
        return self.convs[0].weight.dtype

    def _const(self, i: int) -> torch.Tensor:
        return getattr(self, f"const{i}")

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        env: dict[str, torch.Tensor] = {self.input_name: images}
        dtype = self.dtype
        for s in self.steps:
            args = [self._const(c) if c >= 0 else env[name] for name, c in zip(s.inputs, s.const_index)]
            env[s.output] = _apply(s, args, self, dtype)
        return env[self.output_names[0]], env[self.output_names[1]]


def _apply(s: _Step, args: list[torch.Tensor], net: SsdNet, dtype: torch.dtype) -> torch.Tensor:
    op, x = s.op, args[0]
    if op == "Conv":
        pad = s.attrs[0]
        if pad is not None:  # asymmetric "SAME" padding (left, right, top, bottom)
            x = F.pad(x, pad)
        return net.convs[s.module_index](x)
    if op == "Clip":
        lo, hi = s.attrs
        return torch.clamp(x, lo, hi)
    if op == "Relu":
        return torch.relu(x)
    if op == "Cast":  # every float cast computes in the network's dtype
        return x.to(dtype)
    if op == "Sub":
        return x - args[1]
    if op == "Mul":
        return x * args[1]
    if op == "Add":
        return x + args[1]
    if op == "Div":
        return x / args[1]
    if op == "Transpose":
        return x.permute(*s.attrs[0])
    if op == "Reshape":
        shape = [x.shape[i] if d == 0 else d for i, d in enumerate(s.attrs[0])]
        return x.reshape(shape)
    if op == "Concat":
        return torch.cat(args, dim=s.attrs[0])
    if op == "Sigmoid":
        return torch.sigmoid(x)
    if op == "Softmax":
        return torch.softmax(x, dim=s.attrs[0])
    if op == "Identity":
        return x
    if op == "Squeeze":
        return x.squeeze(s.attrs[0]) if s.attrs[0] is not None else x.squeeze()
    if op == "Unsqueeze":
        for a in sorted(s.attrs[0]):
            x = x.unsqueeze(a)
        return x
    raise BackendError(f"torch_net: expected one of {', '.join(SUPPORTED_OPS)}, found ONNX op {op}")


def _attr(node, name, default=None):
    from onnx import helper

    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _ints_from(name: str, inits: dict, node_attr) -> tuple[int, ...] | None:
    if name in inits:
        return tuple(int(v) for v in np.asarray(inits[name]).reshape(-1))
    return tuple(node_attr) if node_attr is not None else None


def build_net(artifact_path: Path) -> SsdNet:
    """Parse the artifact's ONNX graph into an :class:`SsdNet` (float32, CPU; move/cast it after)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(artifact_path))
    graph = model.graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:  # Constant nodes are initializers too
        if node.op_type == "Constant":
            inits[node.output[0]] = numpy_helper.to_array(_attr(node, "value"))
    const_ids: dict[str, int] = {}
    consts: list[torch.Tensor] = []
    convs: list[nn.Module] = []
    steps: list[_Step] = []

    def const(name: str) -> int:
        if name not in const_ids:
            const_ids[name] = len(consts)
            consts.append(torch.from_numpy(np.array(inits[name], dtype=np.float32)))
        return const_ids[name]

    for node in graph.node:
        op = node.op_type
        if op == "Constant":
            continue
        if op not in SUPPORTED_OPS:
            raise BackendError(f"torch_net: expected one of {', '.join(SUPPORTED_OPS)}, found ONNX op {op} ({node.name})")
        inputs = tuple(i for i in node.input if i)
        out = node.output[0]
        if op == "Conv":
            w = np.array(inits[inputs[1]], dtype=np.float32)
            b = np.array(inits[inputs[2]], dtype=np.float32) if len(inputs) > 2 else None
            group = int(_attr(node, "group", 1))
            strides = tuple(_attr(node, "strides", [1, 1]))
            dil = tuple(_attr(node, "dilations", [1, 1]))
            pads = tuple(_attr(node, "pads", [0, 0, 0, 0]))  # (top, left, bottom, right)
            if _attr(node, "auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                raise BackendError(f"torch_net: expected explicit Conv pads, found auto_pad in {node.name}")
            conv = nn.Conv2d(w.shape[1] * group, w.shape[0], tuple(w.shape[2:]), stride=strides, dilation=dil,
                             groups=group, bias=b is not None)
            conv.weight.data = torch.from_numpy(w)
            if b is not None:
                conv.bias.data = torch.from_numpy(b)
            t, l, bt, r = pads
            if t == bt and l == r:
                conv.padding = (t, l)
                extra = None
            else:
                extra = (l, r, t, bt)
            convs.append(conv)
            steps.append(_Step(op, (inputs[0],), out, (extra,), len(convs) - 1, (-1,)))
            continue
        if op == "Clip":
            lo = float(np.asarray(inits[inputs[1]])) if len(inputs) > 1 else float(_attr(node, "min", -np.inf))
            hi = float(np.asarray(inits[inputs[2]])) if len(inputs) > 2 else float(_attr(node, "max", np.inf))
            steps.append(_Step(op, (inputs[0],), out, (lo, hi), const_index=(-1,)))
            continue
        if op == "Reshape":
            steps.append(_Step(op, (inputs[0],), out, (_ints_from(inputs[1], inits, None),), const_index=(-1,)))
            continue
        if op in ("Squeeze", "Unsqueeze"):
            axes = _ints_from(inputs[1], inits, None) if len(inputs) > 1 else _attr(node, "axes")
            steps.append(_Step(op, (inputs[0],), out, (tuple(axes) if axes is not None else None,), const_index=(-1,)))
            continue
        if op == "Transpose":
            attrs: tuple = (tuple(_attr(node, "perm")),)
        elif op == "Concat":
            attrs = (int(_attr(node, "axis")),)
        elif op == "Softmax":
            attrs = (int(_attr(node, "axis", -1)),)
        else:
            attrs = ()
        cidx = tuple(const(i) if i in inits else -1 for i in inputs)
        steps.append(_Step(op, inputs, out, attrs, const_index=cidx))

    in_names = [i.name for i in graph.input if i.name not in inits]
    out_names = tuple(o.name for o in graph.output)
    if in_names != [INPUT_NAME] or set(out_names) != {BOXES_NAME, SCORES_NAME}:
        raise BackendError(
            f"torch_net: expected input [{INPUT_NAME}] and outputs [{BOXES_NAME}, {SCORES_NAME}], "
            f"found {in_names} and {list(out_names)}"
        )
    return SsdNet(steps, convs, consts, INPUT_NAME, (BOXES_NAME, SCORES_NAME))


def prepare_net(net: SsdNet, device: torch.device, dtype: torch.dtype, channels_last: bool = True) -> SsdNet:
    """Move/cast ``net`` for inference (eval mode, no grad, optional channels_last weights)."""
    net = net.to(device=device, dtype=dtype).eval()
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    for p in net.parameters():
        p.requires_grad_(False)
    return net
