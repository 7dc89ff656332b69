"""TF.js graph model (``model.json`` + weight shards, as written by ``tensorflowjs_converter
--output_format=tfjs_graph_model``) -> TensorFlow GraphDef -> trtssd ONNX artifact.

Reading: ``modelTopology`` is the exported GraphDef in protobuf JSON form (parsed with protobuf's
``json_format``; the converter writes ``bytes`` attributes as lists of byte values, which are
re-encoded first), and ``weightsManifest`` lists the constants in the order their bytes follow
each other in the group's shard files (dtype, shape, optional ``quantization`` ``uint8``/``uint16``
affine or ``float16``) — the format documented with tensorflowjs' converter. The ``tensorflowjs``
pip package is not used: it pins its own TensorFlow, NumPy and protobuf versions (and pulls JAX,
Flax and TF Decision Forests), which would replace the TensorFlow the converters run with.

The rebuilt GraphDef is an ordinary OD API SSD graph (anchors folded into a constant, box-coder
scales folded into reciprocals, NMS cut off by the TF.js export) and is converted by
:func:`trtssd.conversion.tf1.convert_graph_def`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from trtssd.conversion.artifact import ArtifactInfo
from trtssd.conversion.tf1 import LabelsFor, convert_graph_def
from trtssd.conversion.tfgraph import NodeOverrides, import_tf
from trtssd.errors import ModelFormatError
from trtssd.models.spec import ModelSpec

CONVERTER = "tfjs-1"
_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_, "uint8": np.uint8, "int64": np.int64}
_QUANT = {"uint8": np.uint8, "uint16": np.uint16, "float16": np.float16}


def model_json_path(path: Path) -> Path:
    """``path`` itself when it is a ``model.json``-style file, else ``path/model.json``."""
    path = Path(path)
    cand = path / "model.json" if path.is_dir() else path
    if not cand.is_file():
        raise ModelFormatError(f"{path}: expected a TF.js graph model (model.json), found none")
    return cand


def is_tfjs_model(path: Path) -> bool:
    """Whether ``path`` (a ``.json`` file or a directory holding ``model.json``) looks like a TF.js
    graph model (a JSON object with ``modelTopology`` and ``weightsManifest``)."""
    path = Path(path)
    cand = path / "model.json" if path.is_dir() else path
    if cand.suffix != ".json" or not cand.is_file():
        return False
    with open(cand, "rb") as f:
        head = f.read(4096)
    return b"modelTopology" in head or b"weightsManifest" in head


def _load_json(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFormatError(f"{path}: expected a TF.js model.json, found invalid JSON ({exc})") from None
    if not isinstance(doc, dict) or "modelTopology" not in doc or "weightsManifest" not in doc:
        keys = sorted(doc)[:6] if isinstance(doc, dict) else type(doc).__name__
        raise ModelFormatError(f"{path}: expected a TF.js graph model with modelTopology and weightsManifest, found {keys}")
    if "node" not in doc["modelTopology"]:
        raise ModelFormatError(f"{path}: expected a TF.js graph model (GraphDef topology), found a layers model "
                               f"(keys {sorted(doc['modelTopology'])[:6]})")
    return doc


def shard_paths(model_json: Path) -> list[Path]:
    """The weight files the manifest names, in manifest order (relative to ``model.json``)."""
    doc = _load_json(model_json)
    return [model_json.parent / p for group in doc["weightsManifest"] for p in group["paths"]]


def tfjs_digest(path: Path) -> str:
    """sha256 over ``model.json`` and its weight shards (names and contents, in manifest order)."""
    mj = model_json_path(path)
    h = hashlib.sha256()
    for f in [mj, *shard_paths(mj)]:
        h.update(f.name.encode())
        with open(f, "rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
    return h.hexdigest()


def _bytes_to_base64(obj, in_list: bool = False):
    """Re-encode ``bytes`` attribute fields written as lists of byte values (``{"s": [80, 114]}``,
    and ``{"list": {"s": [[...], ...]}}``) as the base64 strings protobuf JSON expects."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k == "s" and isinstance(v, list) and not in_list and all(isinstance(b, int) for b in v):
                out[k] = base64.b64encode(bytes(v)).decode()
            elif k == "s" and isinstance(v, list) and in_list:
                out[k] = [base64.b64encode(bytes(x)).decode() if isinstance(x, list) else x for x in v]
            else:
                out[k] = _bytes_to_base64(v, in_list=k == "list")
        return out
    if isinstance(obj, list):
        return [_bytes_to_base64(v) for v in obj]
    return obj


def _weights(model_json: Path, manifest: list) -> dict[str, np.ndarray]:
    values: dict[str, np.ndarray] = {}
    for group in manifest:
        files = [model_json.parent / p for p in group["paths"]]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise ModelFormatError(f"{model_json}: expected the weight files {missing} beside it, found none")
        data = b"".join(f.read_bytes() for f in files)
        offset = 0
        for w in group["weights"]:
            count = int(np.prod(w["shape"], dtype=np.int64))
            quant = w.get("quantization")
            dtype = _DTYPES.get(w["dtype"])
            if dtype is None:
                raise ModelFormatError(f"{model_json}: weight {w['name']}: expected dtype in {sorted(_DTYPES)}, found {w['dtype']}")
            stored = np.dtype(_QUANT[quant["dtype"]]) if quant else np.dtype(dtype)
            size = count * stored.itemsize
            if offset + size > len(data):
                raise ModelFormatError(f"{model_json}: weight {w['name']} needs bytes {offset}..{offset + size}, "
                                       f"found {len(data)} bytes of shards")
            arr = np.frombuffer(data, dtype=stored.newbyteorder("<"), count=count, offset=offset)
            if quant and quant["dtype"] != "float16":
                arr = arr.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"])
            values[w["name"]] = arr.astype(dtype).reshape(w["shape"])
            offset += size
        if offset != len(data):
            raise ModelFormatError(f"{model_json}: expected {offset} bytes of weights in {group['paths']}, found {len(data)}")
    return values


def load_tfjs_graph(path: Path):
    """A ``tf.compat.v1.GraphDef`` rebuilt from a TF.js graph model (``model.json`` or its folder)."""
    tf = import_tf()
    from google.protobuf import json_format
    from tensorflow.python.framework import tensor_util

    mj = model_json_path(path)
    doc = _load_json(mj)
    graph_def = tf.compat.v1.GraphDef()
    try:
        json_format.ParseDict(_bytes_to_base64(doc["modelTopology"]), graph_def, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise ModelFormatError(f"{mj}: expected a GraphDef in modelTopology, found: {str(exc).splitlines()[0]}") from None
    weights = _weights(mj, doc["weightsManifest"])
    seen = set()
    for node in graph_def.node:
        if node.name in weights:
            node.attr["value"].tensor.CopyFrom(tensor_util.make_tensor_proto(weights[node.name]))
            node.attr["dtype"].type = node.attr["value"].tensor.dtype
            seen.add(node.name)
        elif node.op == "Const" and "value" not in node.attr:
            raise ModelFormatError(f"{mj}: constant {node.name}: expected its values in weightsManifest, found none")
    extra = sorted(set(weights) - seen)
    if extra:
        raise ModelFormatError(f"{mj}: expected every manifest weight to be a graph node, found {len(extra)} others "
                               f"({', '.join(extra[:3])})")
    return graph_def


def convert_tfjs(src: Path, dst: Path, *, model_name: str, source_sha256: str, labels_for: LabelsFor,
                 spec: ModelSpec | None = None, overrides: NodeOverrides = NodeOverrides(),
                 log: Callable[[str], None] = lambda msg: None) -> ArtifactInfo:
    """Convert the TF.js graph model ``src`` (model.json or its folder) into the artifact ``dst``."""
    graph_def = load_tfjs_graph(src)
    return convert_graph_def(graph_def, dst, model_name=model_name, source_sha256=source_sha256,
                             labels_for=labels_for, spec=spec, overrides=overrides, converter=CONVERTER, log=log)
