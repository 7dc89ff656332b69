"""Backends that return final detections (decoding + NMS inside the network), e.g. TensorRT.

Such a backend runs the engine-ready ONNX of :mod:`trtssd.conversion.engine_onnx`; its NMS
settings are baked in. One engine serves every score threshold ``>=`` the baked one (results
are filtered afterwards, which is exact for greedy NMS), but IoU, max detections and
class-agnostic mode must match: a different request triggers a (cached) rebuild.

:meth:`FinalDetectionsBackend.detect` (the :class:`~trtssd.backends.base.Backend` contract) resizes on
the host, runs the network and filters its final detections with the backend's fixed NMS settings.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from trtssd.backends.base import Backend, Frames, StageClock, check_frames, model_nms, preprocess
from trtssd.conversion.artifact import ArtifactInfo
from trtssd.detections import Detections
from trtssd.errors import BackendError
from trtssd.postprocess.nms import NmsParams

# Engines bake ``min(conf_th, DEFAULT_MIN_SCORE)`` so one engine covers the usual thresholds.
DEFAULT_MIN_SCORE = 0.05

FinalOutputs = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def default_nms(info: ArtifactInfo, score_threshold: float = DEFAULT_MIN_SCORE) -> NmsParams:
    """NMS settings of the model's exported pipeline with the given score threshold."""
    return model_nms(info, score_threshold)


def engine_nms(requested: NmsParams, min_score: float = DEFAULT_MIN_SCORE) -> NmsParams:
    """The NMS settings to bake for a request (score threshold lowered to ``min_score`` at most;
    ``max_per_class`` normalised to ``max_total`` in class-agnostic mode, where it is unused)."""
    baked = replace(requested, score_threshold=min(requested.score_threshold, min_score))
    if baked.class_agnostic:
        baked = replace(baked, max_per_class=baked.max_total)
    return baked


def covers(baked: NmsParams, requested: NmsParams) -> bool:
    """Whether an engine built with ``baked`` gives exactly the ``requested`` results after
    filtering scores ``> requested.score_threshold``."""
    same = (baked.iou_threshold == requested.iou_threshold and baked.max_total == requested.max_total
            and baked.class_agnostic == requested.class_agnostic)
    if not requested.class_agnostic:
        same = same and baked.max_per_class == requested.max_per_class
    return same and baked.score_threshold <= requested.score_threshold


def final_to_detections(outputs: FinalOutputs, sizes_wh: Sequence[tuple[int, int]], labels: tuple[str, ...],
                        score_threshold: float) -> list[Detections]:
    """``(num [N], boxes [N, K, 4] normalised xyxy, scores [N, K], classes [N, K])`` -> one
    :class:`Detections` per image in pixels of ``sizes_wh`` (width, height), scores ``> score_threshold``."""
    num, boxes, scores, classes = outputs
    if len(num) != len(sizes_wh):
        raise ValueError(f"final outputs: expected {len(sizes_wh)} images, found {len(num)}")
    out = []
    for n, b, s, c, (w, h) in zip(num, boxes, scores, classes, sizes_wh):
        n = int(n)
        keep = s[:n] > score_threshold
        scale = np.array([w, h, w, h], dtype=np.float32)
        out.append(Detections((b[:n][keep] * scale).astype(np.float32), s[:n][keep].astype(np.float32),
                              c[:n][keep].astype(np.int64), labels))
    return out


class FinalDetectionsBackend(Backend):
    """Base of backends whose network ends in NMS. Subclasses implement :meth:`_load` and
    :meth:`detect_raw`."""

    def __init__(self, artifact_path: Path, info: ArtifactInfo, nms: NmsParams | None = None,
                 min_score: float = DEFAULT_MIN_SCORE) -> None:
        super().__init__(artifact_path, info, nms)
        self.min_score = float(min_score)
        self.baked_nms: NmsParams | None = None

    def infer(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise BackendError(
            f"backend '{self.name}': expected a detect()/detect_raw() call, found infer(): this backend returns "
            "final detections (NMS runs inside the network), not raw box encodings and scores"
        )

    def prepare(self, nms: NmsParams | None = None) -> NmsParams:
        """Make sure the loaded network covers ``nms`` (default: the backend's own settings), loading
        or building one if not; returns the baked settings. Call it in the inference thread."""
        nms = nms or self.nms
        if self.baked_nms is None or not covers(self.baked_nms, nms):
            baked = engine_nms(nms, self.min_score)
            self._load(baked)
            self.baked_nms = baked
        return self.baked_nms

    @abstractmethod
    def _load(self, baked: NmsParams) -> None:
        """Load (building if needed) the network with these NMS settings baked in."""

    @abstractmethod
    def _run(self, images: np.ndarray) -> FinalOutputs:
        """Run the loaded network on uint8 ``[N, H, W, 3]`` RGB."""

    def detect_raw(self, images: np.ndarray) -> FinalOutputs:
        """uint8 ``[N, H, W, 3]`` RGB -> ``(num_detections int32 [N], boxes float32 [N, K, 4]
        normalised xyxy, scores float32 [N, K], classes int32 [N, K])``, padded after ``num``."""
        h, w = self.info.input_size
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (h, w, 3):
            raise ValueError(f"images: expected uint8 [N, {h}, {w}, 3], found {images.dtype} {list(images.shape)}")
        if self.baked_nms is None:
            self.prepare()
        return self._run(np.ascontiguousarray(images))

    def detect_images(self, images: np.ndarray, sizes_wh: Sequence[tuple[int, int]]) -> list[Detections]:
        """Preprocessed images -> detections in pixels of the original frames (``sizes_wh``)."""
        self.prepare()
        return final_to_detections(self.detect_raw(images), sizes_wh, self.info.labels, self.nms.score_threshold)

    def detect(self, frames: Frames, timings: dict[str, float] | None = None) -> list[Detections]:
        frames = check_frames(frames)
        clock = StageClock(timings)
        images = preprocess(frames, self.info.input_size)
        clock.lap("preprocess")
        dets = self.detect_images(images, [(f.shape[1], f.shape[0]) for f in frames])
        clock.lap("infer")
        return dets
