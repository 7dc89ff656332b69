"""Non-maximum suppression (numpy), with the TF OD API semantics.

``tf.image.non_max_suppression`` keeps a box when its score is ``> score_threshold`` and suppresses
a lower-scored box whose IoU with a kept one is ``> iou_threshold``; the OD API postprocessor
(``multiclass_non_max_suppression``) runs it per class with ``max_detections_per_class``, merges the
classes and keeps the best ``max_total_detections``. The TFLite export instead uses "fast NMS":
each anchor keeps only its best class and one class-agnostic NMS runs over all anchors.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from trtssd.postprocess.boxes import box_area


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
    boxes_xyxy: np.ndarray, scores: np.ndarray, params: NmsParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Select detections of one image.

    Args:
        boxes_xyxy: float ``[A, 4]`` decoded boxes, one per anchor (shared by all classes).
        scores: float ``[A, C]`` activated scores; column 0 is the background and is ignored.
        params: thresholds and limits.

    Returns:
        ``(boxes [K, 4], scores [K], class_ids [K])`` sorted by score descending, K <= max_total.
    """
    fg = scores[:, 1:]
    if params.class_agnostic:
        best = fg.argmax(axis=1)
        best_scores = fg[np.arange(len(fg)), best]
        anchors = np.nonzero(best_scores > params.score_threshold)[0]
        keep = nms(boxes_xyxy[anchors], best_scores[anchors], params.iou_threshold, params.max_total)
        sel = anchors[keep]
        return boxes_xyxy[sel], best_scores[sel], best[sel].astype(np.int64) + 1

    # Per class, as the OD API does; each NMS stops after max_per_class boxes. Classes run best
    # first, and a class's NMS also stops at boxes scoring below the current max_total-th best kept
    # score: such boxes can never reach the final top max_total, so the result is unchanged while
    # the work at low score thresholds (1e-2 .. 1e-8, for mAP) drops by orders of magnitude.
    best_kept: list[float] = []  # min-heap of the max_total best scores kept so far
    out_boxes, out_scores, out_classes = [], [], []
    class_max = fg.max(axis=0)
    for c in np.argsort(-class_max, kind="stable"):
        floor = best_kept[0] if len(best_kept) == params.max_total else None
        if class_max[c] <= params.score_threshold or (floor is not None and class_max[c] < floor):
            continue
        cand = np.nonzero(fg[:, c] > params.score_threshold)[0]
        keep = cand[nms(boxes_xyxy[cand], fg[cand, c], params.iou_threshold, params.max_per_class, floor)]
        kept_scores = fg[keep, c]
        for sc in kept_scores.tolist():
            if len(best_kept) < params.max_total:
                heapq.heappush(best_kept, sc)
            elif sc > best_kept[0]:
                heapq.heapreplace(best_kept, sc)
        out_boxes.append(boxes_xyxy[keep])
        out_scores.append(kept_scores)
        out_classes.append(np.full(len(keep), c + 1, dtype=np.int64))
    if not out_scores:
        return np.zeros((0, 4), boxes_xyxy.dtype), np.zeros(0, scores.dtype), np.zeros(0, np.int64)
    all_scores, all_classes = np.concatenate(out_scores), np.concatenate(out_classes)
    # Best first; equal scores by class id, then in NMS order, as the OD API's final top-k does.
    order = np.lexsort((np.arange(len(all_scores)), all_classes, -all_scores))[: params.max_total]
    return np.concatenate(out_boxes)[order], all_scores[order], all_classes[order]
