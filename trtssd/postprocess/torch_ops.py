"""SSD pre/postprocessing as torch ops (GPU or CPU), the counterpart of the numpy reference in
:mod:`trtssd.postprocess.detect` / :mod:`trtssd.postprocess.nms` with the same semantics.

Everything is batched: frames ``[N, H, W, 3]`` in, one flat set of kept detections with their
image index out, so a whole batch costs one NMS launch and one device->host copy.
NMS uses ``torchvision.ops.nms`` when torchvision is importable, else the numpy reference
(exact same greedy algorithm, on the CPU).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from trtssd.models.spec import BoxCoderSpec
from trtssd.postprocess.nms import NmsParams


def resize_frames(frames: torch.Tensor, size_hw: tuple[int, int], bgr_to_rgb: bool = True) -> torch.Tensor:
    """uint8 ``[N, H, W, 3]`` frames -> float32 ``[N, h, w, 3]`` values 0..255 (rounded, like the
    uint8 output of ``cv2.resize(INTER_LINEAR)`` + ``cvtColor``), memory laid out NHWC."""
    x = frames.permute(0, 3, 1, 2).float()  # NCHW view with channels_last strides
    if tuple(x.shape[2:]) != tuple(size_hw):
        x = F.interpolate(x, size=size_hw, mode="bilinear", align_corners=False, antialias=False)
    if bgr_to_rgb:
        x = x.flip(1)
    x = x.round_().clamp_(0.0, 255.0)
    return x.permute(0, 2, 3, 1)


def decode_boxes(encodings: torch.Tensor, anchors_cyxhw: torch.Tensor, coder: BoxCoderSpec) -> torch.Tensor:
    """``[..., A, 4]`` (ty, tx, th, tw) against ``[A, 4]`` anchors -> ``[..., A, 4]`` normalised
    (xmin, ymin, xmax, ymax), clipped to [0, 1] (float32)."""
    e = encodings.float()
    ya, xa, ha, wa = anchors_cyxhw.unbind(-1)
    yc = e[..., 0] / coder.y_scale * ha + ya
    xc = e[..., 1] / coder.x_scale * wa + xa
    h = torch.exp(e[..., 2] / coder.h_scale) * ha
    w = torch.exp(e[..., 3] / coder.w_scale) * wa
    return torch.stack([xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2], dim=-1).clamp_(0.0, 1.0)


def activate_scores(raw: torch.Tensor, activation: str) -> torch.Tensor:
    """The model's score activation on ``[..., C]`` (float32 out)."""
    raw = raw.float()
    if activation == "none":
        return raw
    if activation == "sigmoid":
        return torch.sigmoid(raw)
    if activation == "softmax":
        return torch.softmax(raw, dim=-1)
    raise ValueError(f"score activation: expected sigmoid, softmax or none, found {activation!r}")


def _nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy NMS -> int64 indices kept, best first (torchvision, or the numpy reference)."""
    try:
        from torchvision.ops import nms as tv_nms
    except Exception:  # torchvision missing or built for another torch
        tv_nms = None
    if tv_nms is not None:
        return tv_nms(boxes, scores, iou_threshold)
    from trtssd.postprocess.nms import nms as np_nms

    keep = np_nms(boxes.detach().cpu().numpy(), scores.detach().cpu().numpy(), iou_threshold)
    return torch.from_numpy(keep).to(boxes.device)


def grouped_nms(boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """NMS within each group (boxes of different groups never suppress each other).

    ``boxes [K, 4]`` normalised xyxy, ``scores [K]``, ``groups [K]`` int64 (image * classes + class).
    Shifts each group by ``group * 2`` in float64 so tens of thousands of groups stay exact.
    Returns int64 indices kept, by score descending.
    """
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.int64, device=boxes.device)
    shifted = boxes.double() + (groups.double() * 2.0)[:, None]
    return _nms(shifted, scores.double(), iou_threshold)


def _rank_within(keys: torch.Tensor) -> torch.Tensor:
    """For ``keys [K]`` already grouped (equal keys adjacent) -> rank of each entry in its run."""
    if keys.numel() == 0:
        return keys.clone()
    _, counts = torch.unique_consecutive(keys, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    return torch.arange(keys.numel(), device=keys.device) - torch.repeat_interleave(starts, counts)


def _cap_per_key(order: torch.Tensor, keys: torch.Tensor, cap: int) -> torch.Tensor:
    """``order``: indices best first; keep the first ``cap`` of each key, still best first."""
    k = keys[order]
    by_key = torch.sort(k, stable=True).indices  # grouped by key, best first inside a group
    rank = torch.empty_like(by_key)
    rank[by_key] = _rank_within(k[by_key])
    return order[rank < cap]


def _select(boxes_xyxy, fg, params: NmsParams, img, anc, cls, cand_s):
    """NMS + caps over explicit candidates -> indices into the candidate arrays (see below)."""
    n_fg = fg.shape[2]
    groups = img if params.class_agnostic else img * n_fg + cls
    keep = grouped_nms(boxes_xyxy[img, anc], cand_s, groups, params.iou_threshold)  # best first
    if not params.class_agnostic:
        keep = _cap_per_key(keep, groups, params.max_per_class)
    return _cap_per_key(keep, img, params.max_total)


def batched_multiclass_nms(boxes_xyxy: torch.Tensor, scores: torch.Tensor, params: NmsParams,
                           pre_nms_top_k: int = 2048
                           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Select detections of a batch (same result as :func:`trtssd.postprocess.nms.multiclass_nms`
    applied to every image, up to the order of equal scores).

    Per-class NMS first runs on each image's ``pre_nms_top_k`` best (anchor, class) candidates.
    That is exact whenever an image keeps ``max_total`` boxes scoring above the best candidate
    left out (greedy NMS and the caps never let a lower score change a higher one's fate); the
    images where it is not (rare) are redone over all their candidates.

    Args:
        boxes_xyxy: ``[N, A, 4]`` normalised decoded boxes.
        scores: ``[N, A, C]`` activated scores, column 0 = background (ignored).

    Returns:
        ``(boxes [K, 4], scores [K], class_ids [K] int64 (1..C-1), image_index [K] int64)``,
        grouped by image (ascending) and by score descending inside an image.
    """
    fg = scores[:, :, 1:]
    n, a, n_fg = fg.shape
    if params.class_agnostic:
        best_scores, best = fg.max(dim=2)
        img, anc = torch.nonzero(best_scores > params.score_threshold, as_tuple=True)
        cls = best[img, anc]
        cand_s = best_scores[img, anc]
        keep = _select(boxes_xyxy, fg, params, img, anc, cls, cand_s)
    else:
        k = min(pre_nms_top_k, a * n_fg)
        top_s, top_i = fg.reshape(n, -1).topk(k, dim=1)  # [N, k], best first
        img, col = torch.nonzero(top_s > params.score_threshold, as_tuple=True)
        flat = top_i[img, col]
        anc, cls, cand_s = flat // n_fg, flat % n_fg, top_s[img, col]
        keep = _select(boxes_xyxy, fg, params, img, anc, cls, cand_s)
        if k < a * n_fg:
            left_out = top_s[:, -1]  # best score not among the candidates, per image
            sure = torch.zeros(n, dtype=torch.int64, device=fg.device).index_add_(
                0, img[keep], (cand_s[keep] > left_out[img[keep]]).long())
            redo = ((sure < params.max_total) & (left_out > params.score_threshold)).nonzero().flatten().tolist()
            if redo:
                redo_t = torch.tensor(redo, device=fg.device)
                mine = ~torch.isin(img[keep], redo_t)
                parts = [(img[keep][mine], anc[keep][mine], cls[keep][mine], cand_s[keep][mine])]
                for i in redo:
                    a_i, c_i = torch.nonzero(fg[i] > params.score_threshold, as_tuple=True)
                    im_i = torch.full_like(a_i, i)
                    s_i = fg[i, a_i, c_i]
                    kk = _select(boxes_xyxy, fg, params, im_i, a_i, c_i, s_i)
                    parts.append((im_i[kk], a_i[kk], c_i[kk], s_i[kk]))
                img, anc, cls, cand_s = (torch.cat(t) for t in zip(*parts))
                keep = torch.sort(cand_s, descending=True, stable=True).indices
    keep = keep[torch.sort(img[keep], stable=True).indices]  # by image, best first inside
    return boxes_xyxy[img[keep], anc[keep]].float(), cand_s[keep].float(), cls[keep] + 1, img[keep]
