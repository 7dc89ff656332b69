"""From raw SSD outputs to :class:`~trtssd.detections.Detections` (the CPU reference path)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from trtssd.detections import Detections
from trtssd.models.spec import BoxCoderSpec
from trtssd.postprocess.boxes import clip_boxes_to_unit, scale_boxes, yxyx_to_xyxy
from trtssd.postprocess.coder import decode_boxes
from trtssd.postprocess.nms import NmsParams, candidates, select


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
    """Decode, clip to the image, NMS and scale to pixels (per image: the score pre-filter, then
    decoding of the candidate anchors only, then :func:`~trtssd.postprocess.nms.select`).

    Args:
        box_encodings: ``[N, A, 4]`` raw (ty, tx, th, tw) encodings.
        raw_scores: ``[N, A, C]`` class outputs before ``activation`` (column 0 = background).
        anchors_cyxhw: ``[A, 4]`` normalised anchors.
        image_sizes: ``N`` pairs ``(width, height)`` of the original frames, in pixels.
    """
    if box_encodings.shape[0] != len(image_sizes):
        raise ValueError(f"postprocess: expected {box_encodings.shape[0]} image sizes, found {len(image_sizes)}")
    out = []
    for enc, raw, (w, h) in zip(box_encodings, raw_scores, image_sizes):
        anchors, classes, scores = _candidates(raw, activation, params)
        # Decode only the anchors that have a candidate (elementwise: same values as decoding all).
        used, where = np.unique(anchors, return_inverse=True)
        boxes = clip_boxes_to_unit(yxyx_to_xyxy(decode_boxes(enc[used], anchors_cyxhw[used], coder)))[where]
        keep = select(boxes, scores, classes, anchors, params)
        out.append(Detections(scale_boxes(boxes[keep], w, h), scores[keep], classes[keep].astype(np.int64) + 1, labels))
    return out


def _candidates(raw: np.ndarray, activation: str, params: NmsParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`~trtssd.postprocess.nms.candidates` of one image's raw ``[A, C]`` outputs. With a
    sigmoid and per-class NMS, only the outputs above logit(threshold) (minus a margin) are
    activated, then the exact ``> threshold`` test runs on the activated values."""
    thr = params.score_threshold
    if activation != "sigmoid" or params.class_agnostic or not 0.0 < thr < 1.0:
        return candidates(activate_scores(raw, activation), params)
    logit = float(np.log(thr / (1.0 - thr)))
    above = raw > logit - _LOGIT_MARGIN
    above[:, 0] = False
    anchors, columns = np.divmod(np.flatnonzero(above), raw.shape[1])  # 1-D nonzero: much faster than 2-D
    scores = activate_scores(raw[anchors, columns], activation)
    ok = scores > thr
    return anchors[ok], columns[ok] - 1, scores[ok]


_LOGIT_MARGIN = 1e-3  # float32 rounding of the sigmoid near the threshold is far below this
