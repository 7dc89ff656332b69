"""SSD anchors ("priors") generated the TF Object Detection API way.

Follows object_detection/anchor_generators/multiple_grid_anchor_generator.py (``create_ssd_anchors``,
``MultipleGridAnchorGenerator._generate``) and grid_anchor_generator.py (``tile_anchors``):
scales are linear in ``[min_scale, max_scale]`` per layer, the lowest layer optionally uses the
three reduced boxes ``(0.1, 1.0), (s, 2.0), (s, 0.5)``, each other layer adds the interpolated
scale ``sqrt(s_i * s_{i+1})`` at aspect ratio 1, and anchor centres sit at ``(i + 0.5) / size``.
Output order: layer, then row (y), column (x), then box spec — the order of the exported graphs.
FPN models use ``MultiscaleGridAnchorGenerator`` (:func:`multiscale_anchors`). The one module that
generates anchors: the converters check a graph's anchors against it, every backend decodes with
the anchors stored in the artifact.
"""

from __future__ import annotations

import math

import numpy as np

from trtssd.models.spec import GridAnchorSpec, ModelSpec, MultiscaleAnchorSpec


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


def grid_anchors_cyxhw(spec: GridAnchorSpec, input_size: tuple[int, int] | None = None) -> np.ndarray:
    """All anchors, float32 ``[A, 4]`` as normalised (y_center, x_center, height, width), for a
    square input unless ``input_size`` (h, w) says otherwise (see :func:`od_api_anchors`).

    For the default spec A = 19*19*3 + (10*10 + 5*5 + 3*3 + 2*2 + 1*1) * 6 = 1917.
    """
    return od_api_anchors(spec, input_size or (1, 1))


def od_api_anchors(spec: GridAnchorSpec, input_size: tuple[int, int]) -> np.ndarray:
    """Anchors ``[A, 4]`` (ycenter, xcenter, h, w) as ``MultipleGridAnchorGenerator`` makes them for
    an input of ``input_size`` (h, w): like :func:`grid_anchors_cyxhw`
    but with the base anchor scaled by ``min(h, w) / h`` and ``min(h, w) / w`` (square in pixels)."""
    ih, iw = input_size
    sy, sx = min(ih, iw) / ih, min(ih, iw) / iw
    out = []
    for (gh, gw), boxes in zip(spec.feature_map_sizes, layer_box_specs(spec)):
        scales = np.array([s for s, _ in boxes], dtype=np.float64)
        ratios = np.sqrt(np.array([a for _, a in boxes], dtype=np.float64))
        grid = np.empty((gh, gw, len(boxes), 4), dtype=np.float64)
        grid[..., 0] = ((np.arange(gh) + 0.5) / gh)[:, None, None]
        grid[..., 1] = ((np.arange(gw) + 0.5) / gw)[None, :, None]
        grid[..., 2] = (scales / ratios * sy)[None, None, :]
        grid[..., 3] = (scales * ratios * sx)[None, None, :]
        out.append(grid.reshape(-1, 4))
    return np.concatenate(out).astype(np.float32)


def multiscale_anchors(spec: MultiscaleAnchorSpec, input_size: tuple[int, int]) -> np.ndarray:
    """``MultiscaleGridAnchorGenerator`` anchors ``[A, 4]`` (ycenter, xcenter, h, w) for a static
    input of ``input_size`` (h, w): level grids of ``ceil(size / 2**l)`` cells, boxes ordered
    (y, x, aspect ratio, scale); the half-stride offset applies only where the size is a multiple
    of the stride (as in the OD API)."""
    ih, iw = input_size
    scales = np.array([2.0 ** (i / spec.scales_per_octave) for i in range(spec.scales_per_octave)])
    ratios = np.sqrt(np.array(spec.aspect_ratios, dtype=np.float64))
    heights = (scales[None, :] / ratios[:, None]).reshape(-1)  # aspect-ratio major, scale minor
    widths = (scales[None, :] * ratios[:, None]).reshape(-1)
    out = []
    for level in range(spec.min_level, spec.max_level + 1):
        stride = float(2 ** level)
        base = spec.anchor_scale * stride
        gh, gw = -(-ih // 2 ** level), -(-iw // 2 ** level)
        off_y = stride / 2 if ih % stride == 0 else 0.0
        off_x = stride / 2 if iw % stride == 0 else 0.0
        grid = np.empty((gh, gw, heights.size, 4), dtype=np.float64)
        grid[..., 0] = ((np.arange(gh) * stride + off_y) / ih)[:, None, None]
        grid[..., 1] = ((np.arange(gw) * stride + off_x) / iw)[None, :, None]
        grid[..., 2] = (heights * base / ih)[None, None, :]
        grid[..., 3] = (widths * base / iw)[None, None, :]
        out.append(grid.reshape(-1, 4))
    return np.concatenate(out).astype(np.float32)


def spec_anchors(spec: ModelSpec, input_size: tuple[int, int]) -> np.ndarray:
    """The anchors a registered model's spec generates for ``input_size`` (h, w)."""
    if spec.multiscale_anchors is not None:
        return multiscale_anchors(spec.multiscale_anchors, input_size)
    return od_api_anchors(spec.anchors, input_size)
