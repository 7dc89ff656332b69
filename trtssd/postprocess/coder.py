"""Center-size box coder of the TF OD API (box_coders/faster_rcnn_box_coder.py), the decoder that
TFLite_Detection_PostProcess and the TensorRT NMS plugin implement too.

With anchor (ya, xa, ha, wa) and encoding (ty, tx, th, tw) scaled by (y, x, h, w)_scale:
``yc = ty / y_scale * ha + ya``, ``xc = tx / x_scale * wa + xa``, ``h = exp(th / h_scale) * ha``,
``w = exp(tw / w_scale) * wa``.
"""

from __future__ import annotations

import numpy as np

from trtssd.models.spec import BoxCoderSpec


def decode_boxes(encodings: np.ndarray, anchors_cyxhw: np.ndarray, coder: BoxCoderSpec) -> np.ndarray:
    """Decode ``[..., A, 4]`` encodings against ``[A, 4]`` anchors -> ``[..., A, 4]`` normalised
    (ymin, xmin, ymax, xmax) float32 (not clipped)."""
    ya, xa, ha, wa = (anchors_cyxhw[:, i] for i in range(4))
    ty, tx, th, tw = (encodings[..., i] for i in range(4))
    yc = ty / coder.y_scale * ha + ya
    xc = tx / coder.x_scale * wa + xa
    h = np.exp(th / coder.h_scale) * ha
    w = np.exp(tw / coder.w_scale) * wa
    return np.stack([yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2], axis=-1).astype(np.float32)


def encode_boxes(boxes_yxyx: np.ndarray, anchors_cyxhw: np.ndarray, coder: BoxCoderSpec) -> np.ndarray:
    """Inverse of :func:`decode_boxes`: ``[..., A, 4]`` yxyx -> encodings (used by tests)."""
    h = boxes_yxyx[..., 2] - boxes_yxyx[..., 0]
    w = boxes_yxyx[..., 3] - boxes_yxyx[..., 1]
    yc = boxes_yxyx[..., 0] + h / 2
    xc = boxes_yxyx[..., 1] + w / 2
    ya, xa, ha, wa = (anchors_cyxhw[:, i] for i in range(4))
    return np.stack(
        [
            (yc - ya) / ha * coder.y_scale,
            (xc - xa) / wa * coder.x_scale,
            np.log(h / ha) * coder.h_scale,
            np.log(w / wa) * coder.w_scale,
        ],
        axis=-1,
    ).astype(np.float32)
