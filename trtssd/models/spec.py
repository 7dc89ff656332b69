"""Frozen dataclasses describing an SSD model: where its file comes from, its input, anchors,
box coder and postprocessing. Instances live in :mod:`trtssd.models.zoo`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

SourceKind = Literal["tflite", "tf1_frozen", "tf2_saved_model", "onnx"]


@dataclass(frozen=True)
class ModelSource:
    """Where a model file comes from.

    Attributes:
        filename: the file (or directory) name looked for in the model directories.
        kind: the format of that file.
        url: official download location (``None``: no official download; the user places the file).
        sha256: sha256 of ``filename`` as it must be on disk (``None``: unknown upstream; the
            downloader then prints the computed digest instead of verifying it).
        archive_member: path of ``filename`` inside the downloaded archive (zip or tar.gz), if any.
        note: how to obtain the file when there is no download (shown in the error).
    """

    filename: str
    kind: SourceKind
    url: str | None = None
    sha256: str | None = None
    archive_member: str | None = None
    note: str = ""


@dataclass(frozen=True)
class GridAnchorSpec:
    """TF OD API ``ssd_anchor_generator`` parameters (object_detection/anchor_generators/
    multiple_grid_anchor_generator.py, ``create_ssd_anchors``); defaults are those of the
    ssd_mobilenet_v1_coco pipeline.config and of the original build_engine.py GridAnchor plugin."""

    min_scale: float = 0.2
    max_scale: float = 0.95
    aspect_ratios: tuple[float, ...] = (1.0, 2.0, 0.5, 3.0, 0.3333)
    feature_map_sizes: tuple[tuple[int, int], ...] = ((19, 19), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1))
    reduce_boxes_in_lowest_layer: bool = True
    interpolated_scale_aspect_ratio: float = 1.0


@dataclass(frozen=True)
class MultiscaleAnchorSpec:
    """TF OD API ``multiscale_anchor_generator`` parameters (multiscale_grid_anchor_generator.py;
    FPN / FPNLite SSDs): per level ``l`` in ``[min_level, max_level]``, stride ``2**l`` pixels,
    base size ``anchor_scale * 2**l`` pixels, scales ``2**(i / scales_per_octave)``."""

    min_level: int = 3
    max_level: int = 7
    anchor_scale: float = 4.0
    aspect_ratios: tuple[float, ...] = (1.0, 2.0, 0.5)
    scales_per_octave: int = 2


@dataclass(frozen=True)
class BoxCoderSpec:
    """TF OD API ``FasterRcnnBoxCoder`` scale factors (box_coders/faster_rcnn_box_coder.py):
    encodings are ``(ty*y_scale, tx*x_scale, th*h_scale, tw*w_scale)``."""

    y_scale: float = 10.0
    x_scale: float = 10.0
    h_scale: float = 5.0
    w_scale: float = 5.0


@dataclass(frozen=True)
class PostprocessSpec:
    """TF OD API ``batch_non_max_suppression`` settings of the exported pipeline.

    ``score_activation``: applied to the raw class outputs ("sigmoid" for TF1/TF2 graphs whose
    raw output is logits; "none" where the export already applied it, e.g. TFLite SSD).
    """

    score_activation: Literal["sigmoid", "softmax", "none"] = "sigmoid"
    score_threshold: float = 1e-8
    iou_threshold: float = 0.6
    max_detections_per_class: int = 100
    max_total_detections: int = 100


@dataclass(frozen=True)
class ModelSpec:
    """One registered model.

    ``num_classes`` counts score columns including background (91 for COCO); ``input_size`` is
    ``(height, width)`` in pixels; the input is RGB uint8, normalisation is inside the graph.
    """

    name: str
    description: str
    source: ModelSource
    labels: tuple[str, ...]
    input_size: tuple[int, int] = (300, 300)
    anchors: GridAnchorSpec = field(default_factory=GridAnchorSpec)
    box_coder: BoxCoderSpec = field(default_factory=BoxCoderSpec)
    postprocess: PostprocessSpec = field(default_factory=PostprocessSpec)
    multiscale_anchors: MultiscaleAnchorSpec | None = None  # set for FPN models (replaces ``anchors``)

    @property
    def num_classes(self) -> int:
        return len(self.labels)
