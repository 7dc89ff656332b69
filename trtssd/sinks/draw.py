"""Drawing detections and the FPS overlay on BGR images."""

from __future__ import annotations

import colorsys

import cv2
import numpy as np

from trtssd.detections import Detections

_GOLDEN = 0.618033988749895
FONT = cv2.FONT_HERSHEY_SIMPLEX


def color_for(class_id: int) -> tuple[int, int, int]:
    """A deterministic, well-spread BGR colour per class id (golden-ratio hue steps; no RNG)."""
    h = (class_id * _GOLDEN) % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, 0.85, 0.95)
    return int(b * 255), int(g * 255), int(r * 255)


def draw_detections(image_bgr: np.ndarray, dets: Detections, copy: bool = True) -> np.ndarray:
    """Boxes with "label score" captions. Returns the annotated image (a copy unless ``copy=False``)."""
    img = image_bgr.copy() if copy else image_bgr
    h, w = img.shape[:2]
    thickness = max(1, round(min(h, w) / 300))
    scale = max(0.4, min(h, w) / 900)
    for (x1, y1, x2, y2), score, cid in zip(dets.xyxy, dets.confidence, dets.class_id):
        color = color_for(int(cid))
        p1, p2 = (int(round(x1)), int(round(y1))), (int(round(x2)), int(round(y2)))
        cv2.rectangle(img, p1, p2, color, thickness)
        caption = f"{dets.label_of(int(cid))} {score:.2f}"
        (tw, th), base = cv2.getTextSize(caption, FONT, scale, 1)
        ty = p1[1] - 2 if p1[1] - th - base - 2 >= 0 else p1[1] + th + base + 2
        cv2.rectangle(img, (p1[0], ty - th - base), (p1[0] + tw + 2, ty + base - 2), color, -1)
        cv2.putText(img, caption, (p1[0] + 1, ty - 2), FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return img


def draw_fps(image_bgr: np.ndarray, fps: float) -> np.ndarray:
    """FPS in the top-left corner, white on a black outline (in place)."""
    text = f"FPS: {fps:.1f}"
    scale = max(0.5, min(image_bgr.shape[:2]) / 600)
    for color, thick in (((0, 0, 0), 4), ((255, 255, 255), 1)):
        cv2.putText(image_bgr, text, (11, int(25 * scale) + 5), FONT, scale, color, thick, cv2.LINE_AA)
    return image_bgr
