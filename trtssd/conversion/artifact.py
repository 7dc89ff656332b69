"""The trtssd ONNX artifact: a network with raw SSD outputs plus, in its metadata, everything a
backend needs to turn them into detections.

Graph contract (format version 1):
    input ``images``: uint8 ``[batch, H, W, 3]`` RGB, already resized to the model's input size;
        normalisation is inside the graph.
    output ``box_encodings``: float32 ``[batch, A, 4]`` (ty, tx, th, tw), scaled per the box coder.
    output ``class_scores``: float32 ``[batch, A, C]``, column 0 = background, before
        ``score_activation``.
Metadata key ``trtssd`` holds :class:`ArtifactInfo` as JSON (anchors base64 float32 little-endian).
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from trtssd.errors import ConversionError, ModelFormatError
from trtssd.fileio import atomic_path
from trtssd.models.spec import BoxCoderSpec, PostprocessSpec

FORMAT_VERSION = 1
METADATA_KEY = "trtssd"
INPUT_NAME = "images"
BOXES_NAME = "box_encodings"
SCORES_NAME = "class_scores"


@dataclass(frozen=True)
class ArtifactInfo:
    """What a backend needs beyond the network (see module docstring for the graph contract)."""

    model_name: str
    source_sha256: str
    converter: str
    input_size: tuple[int, int]  # (height, width) pixels
    anchors_cyxhw: np.ndarray = field(repr=False)  # float32 [A, 4] normalised
    box_coder: BoxCoderSpec
    score_activation: str
    labels: tuple[str, ...]
    postprocess: PostprocessSpec
    format_version: int = FORMAT_VERSION

    @property
    def num_anchors(self) -> int:
        return int(self.anchors_cyxhw.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def to_json(self) -> str:
        d = asdict(self)
        anchors = np.ascontiguousarray(self.anchors_cyxhw, dtype="<f4")
        d["anchors_cyxhw"] = {"shape": list(anchors.shape), "base64": base64.b64encode(anchors.tobytes()).decode()}
        return json.dumps(d)

    @classmethod
    def from_json(cls, text: str) -> "ArtifactInfo":
        d = json.loads(text)
        if d.get("format_version") != FORMAT_VERSION:
            raise ModelFormatError(
                f"trtssd artifact: expected format version {FORMAT_VERSION}, found {d.get('format_version')}"
                " (reconvert the model)"
            )
        a = d.pop("anchors_cyxhw")
        anchors = np.frombuffer(base64.b64decode(a["base64"]), dtype="<f4").reshape(a["shape"]).astype(np.float32)
        return cls(
            model_name=d["model_name"],
            source_sha256=d["source_sha256"],
            converter=d["converter"],
            input_size=tuple(d["input_size"]),
            anchors_cyxhw=anchors,
            box_coder=BoxCoderSpec(**d["box_coder"]),
            score_activation=d["score_activation"],
            labels=tuple(d["labels"]),
            postprocess=PostprocessSpec(**d["postprocess"]),
        )


def write_info(model, info: ArtifactInfo) -> None:
    """Store ``info`` in an ``onnx.ModelProto``'s metadata (replacing an older entry)."""
    for prop in list(model.metadata_props):
        if prop.key == METADATA_KEY:
            model.metadata_props.remove(prop)
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, info.to_json()


def save_onnx(model, dst: Path, what: str = "ONNX") -> Path:
    """Check ``model`` with the full ONNX checker and write it to ``dst`` atomically (see
    :func:`trtssd.fileio.atomic_path`)."""
    import onnx

    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise ConversionError(f"{what}: expected a valid ONNX graph, found: {first}") from None
    with atomic_path(dst) as tmp:
        onnx.save(model, str(tmp))
    return Path(dst)


def save_artifact(model, info: ArtifactInfo, dst: Path) -> ArtifactInfo:
    """Store ``info`` in ``model``'s metadata and save it as the artifact ``dst`` (see :func:`save_onnx`)."""
    write_info(model, info)
    save_onnx(model, dst, f"artifact {Path(dst).name}")
    return info


def int8_variant_path(artifact_path: Path) -> Path:
    """Where the INT8 (Q/DQ) variant of an artifact lives, when its converter writes one
    (QAT-quantized TFLite models; see :mod:`trtssd.conversion.qdq`): ``<stem>.int8.onnx``."""
    p = Path(artifact_path)
    return p.with_name(p.stem + ".int8.onnx")


def read_info(path: Path) -> ArtifactInfo:
    """Read the :class:`ArtifactInfo` of an ONNX file; raises ModelFormatError for other ONNX files."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError / various
        raise ModelFormatError(f"{path}: expected an ONNX model, found unreadable data ({exc.__class__.__name__})") from None
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            return ArtifactInfo.from_json(prop.value)
    raise ModelFormatError(
        f"{path}: expected a trtssd ONNX artifact (metadata '{METADATA_KEY}'), found a plain ONNX model; "
        "convert the source model with 'trtssd convert'"
    )
