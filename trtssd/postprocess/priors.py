"""SSD anchors ("priors") generated the TF Object Detection API way.

Follows object_detection/anchor_generators/multiple_grid_anchor_generator.py (``create_ssd_anchors``,
``MultipleGridAnchorGenerator._generate``) and grid_anchor_generator.py (``tile_anchors``):
scales are linear in ``[min_scale, max_scale]`` per layer, the lowest layer optionally uses the
three reduced boxes ``(0.1, 1.0), (s, 2.0), (s, 0.5)``, each other layer adds the interpolated
scale ``sqrt(s_i * s_{i+1})`` at aspect ratio 1, and anchor centres sit at ``(i + 0.5) / size``.
Output order: layer, then row (y), column (x), then box spec — the order of the exported graphs.
"""

from __future__ import annotations

import math

import numpy as np

from trtssd.models.spec import GridAnchorSpec


def layer_box_specs(spec: GridAnchorSpec) -> list[list[tuple[float, float]]]:
    """Per layer, the list of ``(scale, aspect_ratio)`` pairs."""
    n = len(spec.feature_map_sizes)
    if n < 2:
        raise ValueError(f"GridAnchorSpec: expected >= 2 feature maps, found {n}")
    scales = [spec.min_scale + (spec.max_scale - spec.min_scale) * i / (n - 1) for i in range(n)] + [1.0]
    layers = []
    for layer in range(n):
        scale, scale_next = scales[layer], scales[layer + 1]
        if layer == 0 and spec.reduce_boxes_in_lowest_layer:
            layers.append([(0.1, 1.0), (scale, 2.0), (scale, 0.5)])
            continue
        boxes = [(scale, ar) for ar in spec.aspect_ratios]
        if spec.interpolated_scale_aspect_ratio > 0:
            boxes.append((math.sqrt(scale * scale_next), spec.interpolated_scale_aspect_ratio))
        layers.append(boxes)
    return layers


def grid_anchors_cyxhw(spec: GridAnchorSpec) -> np.ndarray:
    """All anchors, float32 ``[A, 4]`` as normalised (y_center, x_center, height, width).

    For the default spec A = 19*19*3 + (10*10 + 5*5 + 3*3 + 2*2 + 1*1) * 6 = 1917.
    """
    out = []
    for (gh, gw), boxes in zip(spec.feature_map_sizes, layer_box_specs(spec)):
        scales = np.array([s for s, _ in boxes], dtype=np.float64)
        ratios = np.sqrt(np.array([a for _, a in boxes], dtype=np.float64))
        heights, widths = scales / ratios, scales * ratios
        yc = (np.arange(gh) + 0.5) / gh
        xc = (np.arange(gw) + 0.5) / gw
        k = len(boxes)
        grid = np.empty((gh, gw, k, 4), dtype=np.float64)
        grid[..., 0] = yc[:, None, None]
        grid[..., 1] = xc[None, :, None]
        grid[..., 2] = heights[None, None, :]
        grid[..., 3] = widths[None, None, :]
        out.append(grid.reshape(-1, 4))
    return np.concatenate(out).astype(np.float32)
