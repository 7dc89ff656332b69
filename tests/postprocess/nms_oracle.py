"""The numpy postprocessing as it was before the vectorised rewrite (per-class loop, heap pruning):
the oracle that the parity tests in test_parity.py hold :mod:`trtssd.postprocess` to. Test-only;
the package has one reference implementation."""

from __future__ import annotations

import heapq

import numpy as np

from trtssd.detections import Detections
from trtssd.postprocess.boxes import clip_boxes_to_unit, scale_boxes, yxyx_to_xyxy
from trtssd.postprocess.coder import decode_boxes
from trtssd.postprocess.detect import activate_scores
from trtssd.postprocess.nms import NmsParams, nms


def old_postprocess_batch(box_encodings, raw_scores, anchors_cyxhw, coder, activation, params, image_sizes, labels=()):
    boxes = clip_boxes_to_unit(yxyx_to_xyxy(decode_boxes(box_encodings, anchors_cyxhw, coder)))
    scores = activate_scores(raw_scores, activation)
    out = []
    for b, s, (w, h) in zip(boxes, scores, image_sizes):
        kb, ks, kc = old_multiclass_nms(b, s, params)
        out.append(Detections(scale_boxes(kb, w, h), ks, kc, labels))
    return out


def old_multiclass_nms(
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
