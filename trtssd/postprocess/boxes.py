"""Pure box operations (numpy), in the style of torchvision/ops/boxes.py.

Formats: ``xyxy`` = (x1, y1, x2, y2); ``yxyx`` = (ymin, xmin, ymax, xmax) as the TF OD API
writes them; ``cyxhw`` = (y_center, x_center, height, width) as TF OD API anchors are stored.
"""

from __future__ import annotations

import numpy as np


def box_area(boxes_xyxy: np.ndarray) -> np.ndarray:
    """``[..., 4]`` xyxy -> ``[...]`` areas (0 for degenerate boxes)."""
    w = np.clip(boxes_xyxy[..., 2] - boxes_xyxy[..., 0], 0, None)
    h = np.clip(boxes_xyxy[..., 3] - boxes_xyxy[..., 1], 0, None)
    return w * h


def box_iou(boxes1_xyxy: np.ndarray, boxes2_xyxy: np.ndarray) -> np.ndarray:
    """Pairwise IoU: ``[N, 4]`` x ``[M, 4]`` -> ``[N, M]`` in [0, 1]."""
    lt = np.maximum(boxes1_xyxy[:, None, :2], boxes2_xyxy[None, :, :2])
    rb = np.minimum(boxes1_xyxy[:, None, 2:], boxes2_xyxy[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(boxes1_xyxy)[:, None] + box_area(boxes2_xyxy)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def yxyx_to_xyxy(boxes_yxyx: np.ndarray) -> np.ndarray:
    """``[..., 4]`` (ymin, xmin, ymax, xmax) -> (x1, y1, x2, y2)."""
    return boxes_yxyx[..., [1, 0, 3, 2]]


def cyxhw_to_yxyx(boxes_cyxhw: np.ndarray) -> np.ndarray:
    """``[..., 4]`` (yc, xc, h, w) -> (ymin, xmin, ymax, xmax)."""
    yc, xc, h, w = np.moveaxis(boxes_cyxhw, -1, 0)
    return np.stack([yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2], axis=-1)


def clip_boxes_to_unit(boxes: np.ndarray) -> np.ndarray:
    """Clip normalised boxes (any corner format) to [0, 1]."""
    return np.clip(boxes, 0.0, 1.0)


def scale_boxes(boxes_xyxy_norm: np.ndarray, width: int, height: int) -> np.ndarray:
    """Normalised ``[N, 4]`` xyxy in [0, 1] -> pixels of a ``width`` x ``height`` image (float32)."""
    scale = np.array([width, height, width, height], dtype=np.float32)
    return (boxes_xyxy_norm * scale).astype(np.float32)
