"""COCO bbox evaluation of a detector on an image folder + instances annotation file."""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from trtssd.detections import Detections
from trtssd.errors import InputError

# COCOeval.stats order (pycocotools cocoeval.py summarize()).
STAT_NAMES = ("map", "map50", "map75", "map_small", "map_medium", "map_large",
              "ar1", "ar10", "ar100", "ar_small", "ar_medium", "ar_large")


@dataclass(frozen=True)
class EvalResult:
    stats: dict[str, float]
    summary: str  # pycocotools' printed summary
    num_images: int
    num_detections: int

    @property
    def map(self) -> float:
        return self.stats["map"]

    @property
    def map50(self) -> float:
        return self.stats["map50"]


def _import_coco():
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise InputError("evaluation: expected pycocotools to be installed, found it missing: pip install 'trtssd[eval]'") from None
    return COCO, COCOeval


def load_annotations(annotations: Path, imgs_dir: Path):
    """Load a COCO instances file; check every listed image exists in ``imgs_dir``."""
    COCO, _ = _import_coco()
    annotations, imgs_dir = Path(annotations), Path(imgs_dir)
    if not annotations.is_file():
        raise InputError(f"annotations not found: expected a COCO instances JSON file, found no '{annotations}'")
    if not imgs_dir.is_dir():
        raise InputError(f"--imgs_dir: expected a directory of images, found no directory '{imgs_dir}'")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            gt = COCO(str(annotations))
    except (json.JSONDecodeError, KeyError, TypeError, AssertionError) as exc:
        raise InputError(f"annotations '{annotations}': expected COCO instances JSON, found unparsable data ({exc.__class__.__name__})") from None
    missing = [gt.imgs[i]["file_name"] for i in gt.getImgIds() if not (imgs_dir / gt.imgs[i]["file_name"]).exists()]
    if missing:
        raise InputError(f"--imgs_dir '{imgs_dir}': expected all {len(gt.imgs)} annotated images, found {len(missing)} missing (e.g. {missing[0]})")
    return gt


def detections_to_coco(image_id: int, dets: Detections) -> list[dict]:
    """COCO result records (bbox = x, y, w, h in pixels; category_id = class id)."""
    out = []
    for (x1, y1, x2, y2), score, cid in zip(dets.xyxy.tolist(), dets.confidence.tolist(), dets.class_id.tolist()):
        out.append({"image_id": image_id, "category_id": int(cid),
                    "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)], "score": round(score, 5)})
    return out


def evaluate(detect_batch: Callable[[Sequence[np.ndarray]], list[Detections]], imgs_dir: Path, annotations: Path,
             *, results_json: Path | None = None, batch_size: int = 1, progress: bool = True) -> EvalResult:
    """Run ``detect_batch`` (e.g. ``Detector.detect_batch``) over the annotated images and score it.

    ``results_json``: where to write the COCO results list (written atomically).
    """
    from tqdm import tqdm

    _, COCOeval = _import_coco()
    gt = load_annotations(annotations, imgs_dir)
    ids = sorted(gt.getImgIds())
    results: list[dict] = []
    for start in tqdm(range(0, len(ids), batch_size), desc="eval", unit="batch" if batch_size > 1 else "img",
                      disable=not progress):
        chunk = ids[start:start + batch_size]
        images = []
        for i in chunk:
            img = cv2.imread(str(Path(imgs_dir) / gt.imgs[i]["file_name"]), cv2.IMREAD_COLOR)
            if img is None:
                raise InputError(f"image '{gt.imgs[i]['file_name']}': expected a readable image, found undecodable data")
            images.append(img)
        for i, dets in zip(chunk, detect_batch(images)):
            results.extend(detections_to_coco(i, dets))
    if results_json:
        results_json = Path(results_json)
        results_json.parent.mkdir(parents=True, exist_ok=True)
        tmp = results_json.with_name(f".{results_json.name}.partial")
        tmp.write_text(json.dumps(results))
        os.replace(tmp, results_json)
    if not results:
        return EvalResult({k: 0.0 for k in STAT_NAMES}, "no detections", len(ids), 0)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "bbox")
        ev.params.imgIds = ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = {k: float(v) for k, v in zip(STAT_NAMES, ev.stats)}
    summary = "\n".join(line for line in buf.getvalue().splitlines() if line.startswith(" Average"))
    return EvalResult(stats, summary, len(ids), len(results))
