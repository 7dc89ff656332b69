"""Non-maximum suppression (numpy), with the TF OD API semantics.

``tf.image.non_max_suppression`` keeps a box when its score is ``> score_threshold`` and suppresses
a lower-scored box whose IoU with a kept one is ``> iou_threshold``; the OD API postprocessor
(``multiclass_non_max_suppression``) runs it per class with ``max_detections_per_class``, merges the
classes and keeps the best ``max_total_detections``. The TFLite export instead uses "fast NMS":
each anchor keeps only its best class and one class-agnostic NMS runs over all anchors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trtssd.postprocess.boxes import box_area

# Candidates sorted per round of :func:`select` (a speed knob only: results do not depend on it).
PRE_NMS_TOP_K = 256


@dataclass(frozen=True)
class NmsParams:
    """NMS settings; thresholds are on activated scores in [0, 1]."""

    score_threshold: float = 0.3
    iou_threshold: float = 0.6
    max_per_class: int = 100
    max_total: int = 100
    class_agnostic: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.score_threshold <= 1.0:
            raise ValueError(f"score_threshold: expected a value in [0, 1], found {self.score_threshold}")
        if not 0.0 < self.iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold: expected a value in (0, 1], found {self.iou_threshold}")
        if self.max_per_class < 1 or self.max_total < 1:
            raise ValueError(
                f"max detections: expected >= 1, found per_class={self.max_per_class}, total={self.max_total}"
            )


def nms(boxes_xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float, max_output: int | None = None,
        stop_below: float | None = None) -> np.ndarray:
    """Greedy NMS over ``[N, 4]`` boxes and ``[N]`` scores -> int64 indices kept, best first.

    ``max_output`` stops after that many boxes; ``stop_below`` stops at the first remaining box
    scoring below it (the boxes kept so far are exactly those plain NMS keeps first).
    """
    order = np.argsort(-scores, kind="stable")
    areas = box_area(boxes_xyxy)
    keep: list[int] = []
    while order.size and (max_output is None or len(keep) < max_output):
        i = order[0]
        if stop_below is not None and scores[i] < stop_below:
            break
        keep.append(int(i))
        rest = order[1:]
        lt = np.maximum(boxes_xyxy[i, :2], boxes_xyxy[rest, :2])
        rb = np.minimum(boxes_xyxy[i, 2:], boxes_xyxy[rest, 2:])
        wh = np.clip(rb - lt, 0, None)
        inter = wh[:, 0] * wh[:, 1]
        union = areas[i] + areas[rest] - inter
        iou = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(boxes_xyxy: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou_threshold: float) -> np.ndarray:
    """NMS within each class independently (boxes of different classes never suppress each other).

    Uses the coordinate-offset trick of torchvision ``batched_nms``: each class is shifted by
    ``class_id * (max_coordinate + 1)`` so boxes of different classes cannot overlap.
    Returns int64 indices kept, best first.
    """
    if boxes_xyxy.size == 0:
        return np.zeros(0, dtype=np.int64)
    offset = float(boxes_xyxy.max()) + 1.0
    shifted = boxes_xyxy + (class_ids.astype(boxes_xyxy.dtype) * offset)[:, None]
    return nms(shifted, scores, iou_threshold)


def multiclass_nms(
    boxes_xyxy: np.ndarray, scores: np.ndarray, params: NmsParams, pre_nms_top_k: int = PRE_NMS_TOP_K
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Select detections of one image.

    Args:
        boxes_xyxy: float ``[A, 4]`` decoded boxes, one per anchor (shared by all classes).
        scores: float ``[A, C]`` activated scores; column 0 is the background and is ignored.
        params: thresholds and limits.
        pre_nms_top_k: candidates sorted and visited per round (see :func:`select`); the result
            does not depend on it.

    Returns:
        ``(boxes [K, 4], scores [K], class_ids [K])`` sorted by score descending, K <= max_total.
    """
    anchors, classes, cand_scores = candidates(scores, params)
    keep = select(boxes_xyxy[anchors], cand_scores, classes, anchors, params, pre_nms_top_k)
    sel = anchors[keep]
    return boxes_xyxy[sel], cand_scores[keep], classes[keep].astype(np.int64) + 1


def candidates(scores: np.ndarray, params: NmsParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``[A, C]`` activated scores -> the (anchor, class) pairs scoring above the threshold:
    ``(anchors [K], classes [K] (0-based foreground, i.e. column - 1), scores [K])``, anchor-major.
    ``class_agnostic``: only each anchor's best foreground class."""
    fg = scores[:, 1:]
    if params.class_agnostic:
        best = fg.argmax(axis=1)
        best_scores = fg[np.arange(len(fg)), best]
        anchors = np.flatnonzero(best_scores > params.score_threshold)
        return anchors, best[anchors], best_scores[anchors]
    above = scores > params.score_threshold  # contiguous: faster than testing the fg view
    above[:, 0] = False
    anchors, columns = np.divmod(np.flatnonzero(above), scores.shape[1])  # 1-D nonzero: much faster than 2-D
    return anchors, columns - 1, scores[anchors, columns]


def select(boxes_xyxy: np.ndarray, scores: np.ndarray, classes: np.ndarray, anchors: np.ndarray,
           params: NmsParams, pre_nms_top_k: int = PRE_NMS_TOP_K) -> np.ndarray:
    """NMS over explicit candidates -> indices kept, best first.

    ``boxes_xyxy [K, 4]``, ``scores [K]`` (all above the score threshold), ``classes [K]`` and
    ``anchors [K]`` (ints, for the order of equal scores) describe the (anchor, class) candidates.

    One greedy pass over all candidates, best first (equal scores by class, then anchor), is the
    OD API's per-class NMS + merge + top-k (see the module docstring): a candidate is kept when
    no kept candidate of its class (any class when ``class_agnostic``) overlaps it by IoU
    ``> iou_threshold`` and its class has fewer than ``max_per_class`` kept; the pass stops at
    ``max_total``. Boxes of other classes are masked out of the IoU, so each IoU is computed in
    the boxes' dtype exactly as a per-class NMS computes it. Only the best ``pre_nms_top_k``
    candidates are sorted at a time: the pass usually stops long before the rest are needed.
    """
    groups = np.zeros(len(scores), np.int64) if params.class_agnostic else classes.astype(np.int64)
    cap = params.max_total if params.class_agnostic else params.max_per_class
    areas = box_area(boxes_xyxy)
    kept: list[int] = []
    per_group: dict[int, int] = {}
    remaining = np.arange(len(scores))
    while remaining.size and len(kept) < params.max_total:
        if remaining.size > pre_nms_top_k:  # the top-k, with every candidate tied with the k-th
            kth = np.partition(scores[remaining], remaining.size - pre_nms_top_k)[remaining.size - pre_nms_top_k]
            in_chunk = scores[remaining] >= kth
            chunk, remaining = remaining[in_chunk], remaining[~in_chunk]
        else:
            chunk, remaining = remaining, remaining[:0]
        tie = anchors[chunk] if params.class_agnostic else anchors[chunk] + classes[chunk].astype(np.int64) * (1 << 32)
        chunk = chunk[np.lexsort((tie, -scores[chunk]))]
        if kept:  # candidates of a later round: suppressed by the boxes kept so far
            chunk = chunk[_survivors(boxes_xyxy, areas, groups, np.asarray(kept), chunk, per_group, cap,
                                     params.iou_threshold)]
        # IoU > threshold between candidates of one group, all pairs of the round at once
        over = _pairwise_iou(boxes_xyxy, areas, chunk, chunk) > params.iou_threshold
        g = groups[chunk]
        over &= g[:, None] == g[None, :]
        removed = np.zeros(len(chunk), bool)
        for j in range(len(chunk)):
            if removed[j]:
                continue
            kept.append(int(chunk[j]))
            if len(kept) == params.max_total:
                break
            gj = int(g[j])
            per_group[gj] = per_group.get(gj, 0) + 1
            removed |= (g == gj) if per_group[gj] >= cap else over[j]
    return np.asarray(kept, dtype=np.int64)


def _pairwise_iou(boxes: np.ndarray, areas: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """IoU ``[len(rows), len(cols)]`` of ``boxes[rows]`` x ``boxes[cols]``, each value computed with
    the same operations (in the boxes' dtype) as :func:`nms` computes it."""
    r, c = boxes[rows].T, boxes[cols].T
    w = np.minimum.outer(r[2], c[2]) - np.maximum.outer(r[0], c[0])
    h = np.minimum.outer(r[3], c[3]) - np.maximum.outer(r[1], c[1])
    inter = np.clip(w, 0, None, out=w) * np.clip(h, 0, None, out=h)
    union = np.add.outer(areas[rows], areas[cols]) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _survivors(boxes, areas, groups, kept, chunk, per_group, cap, iou_threshold) -> np.ndarray:
    """Mask over ``chunk``: not overlapping a kept box of its group, and its group not full."""
    full = [g for g, n in per_group.items() if n >= cap]
    ok = ~np.isin(groups[chunk], full) if full else np.ones(len(chunk), bool)
    hit = (_pairwise_iou(boxes, areas, kept, chunk) > iou_threshold) & (groups[kept, None] == groups[None, chunk])
    return ok & ~hit.any(axis=0)
