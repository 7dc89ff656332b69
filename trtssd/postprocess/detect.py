"""From raw SSD outputs to :class:`~trtssd.detections.Detections` (the CPU reference path)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from trtssd.detections import Detections
from trtssd.models.spec import BoxCoderSpec
from trtssd.postprocess.boxes import clip_boxes_to_unit, scale_boxes, yxyx_to_xyxy
from trtssd.postprocess.coder import decode_boxes
from trtssd.postprocess.nms import NmsParams, multiclass_nms


def activate_scores(raw: np.ndarray, activation: str) -> np.ndarray:
    """Apply the model's score activation to ``[..., C]`` raw class outputs."""
    if activation == "none":
        return raw
    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-raw))
    if activation == "softmax":
        e = np.exp(raw - raw.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    raise ValueError(f"score activation: expected sigmoid, softmax or none, found {activation!r}")


def postprocess_batch(
    box_encodings: np.ndarray,
    raw_scores: np.ndarray,
    anchors_cyxhw: np.ndarray,
    coder: BoxCoderSpec,
    activation: str,
    params: NmsParams,
    image_sizes: Sequence[tuple[int, int]],
    labels: tuple[str, ...] = (),
) -> list[Detections]:
    """Decode, clip to the image, NMS and scale to pixels.

    Args:
        box_encodings: ``[N, A, 4]`` raw (ty, tx, th, tw) encodings.
        raw_scores: ``[N, A, C]`` class outputs before ``activation`` (column 0 = background).
        anchors_cyxhw: ``[A, 4]`` normalised anchors.
        image_sizes: ``N`` pairs ``(width, height)`` of the original frames, in pixels.
    """
    if box_encodings.shape[0] != len(image_sizes):
        raise ValueError(f"postprocess: expected {box_encodings.shape[0]} image sizes, found {len(image_sizes)}")
    boxes = clip_boxes_to_unit(yxyx_to_xyxy(decode_boxes(box_encodings, anchors_cyxhw, coder)))
    scores = activate_scores(raw_scores, activation)
    out = []
    for b, s, (w, h) in zip(boxes, scores, image_sizes):
        kb, ks, kc = multiclass_nms(b, s, params)
        out.append(Detections(scale_boxes(kb, w, h), ks, kc, labels))
    return out
