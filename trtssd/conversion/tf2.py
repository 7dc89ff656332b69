"""TF2 Object Detection API SavedModel (``exporter_main_v2.py`` output, ``saved_model/`` directory)
-> trtssd ONNX artifact.

The ``serving_default`` signature (``input_tensor`` uint8 ``[1, ?, ?, 3]``) is frozen with
``convert_variables_to_constants_v2`` (which inlines the model's function calls, so OD API names
such as ``.../BoxPredictor/.../concat`` and ``.../Preprocessor/...`` appear in one GraphDef), then
converted exactly like a TF1 frozen graph (:func:`trtssd.conversion.tf1.convert_graph_def`): the
raw prediction tensors (``concat`` / ``concat_1`` of the box predictor) become the outputs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from trtssd.conversion.artifact import ArtifactInfo
from trtssd.conversion.tf1 import LabelsFor, convert_graph_def
from trtssd.conversion.tfgraph import NodeOverrides, import_tf
from trtssd.errors import ConversionError, ModelFormatError
from trtssd.models.spec import ModelSpec

CONVERTER = "tf2-1"
SIGNATURE = "serving_default"


def saved_model_dir(path: Path) -> Path:
    """The directory holding ``saved_model.pb`` (``path`` itself or its ``saved_model/`` child)."""
    path = Path(path)
    for cand in (path, path / "saved_model"):
        if (cand / "saved_model.pb").is_file():
            return cand
    raise ModelFormatError(f"{path}: expected a SavedModel directory (saved_model.pb), found none")


def saved_model_digest(path: Path) -> str:
    """sha256 over the SavedModel's files (relative names and contents, sorted by name)."""
    root = saved_model_dir(path)
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(root)).encode())
        with open(f, "rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
    return h.hexdigest()


def frozen_signature_graph_def(path: Path, signature: str = SIGNATURE):
    """The signature's function as one frozen GraphDef (variables -> constants, calls inlined)."""
    tf = import_tf()
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    root = saved_model_dir(path)
    try:
        loaded = tf.saved_model.load(str(root))
    except Exception as exc:  # tf raises many kinds
        raise ModelFormatError(f"{root}: expected a loadable SavedModel, found {exc.__class__.__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    if signature not in loaded.signatures:
        raise ConversionError(f"{root}: expected signature '{signature}', found {sorted(loaded.signatures) or 'none'}")
    fn = loaded.signatures[signature]
    frozen = convert_variables_to_constants_v2(fn)
    return frozen.graph.as_graph_def()


def convert_saved_model(src: Path, dst: Path, *, model_name: str, source_sha256: str, labels_for: LabelsFor,
                        spec: ModelSpec | None = None, overrides: NodeOverrides = NodeOverrides(),
                        log: Callable[[str], None] = lambda msg: None) -> ArtifactInfo:
    """Convert the SavedModel directory ``src`` into the artifact ``dst``."""
    graph_def = frozen_signature_graph_def(src)
    return convert_graph_def(graph_def, dst, model_name=model_name, source_sha256=source_sha256,
                             labels_for=labels_for, spec=spec, overrides=overrides, converter=CONVERTER, log=log)
