"""COCO evaluation on the shared 158-image val2017 subset (real model, real annotations)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from trtssd.detections import Detections
from trtssd.errors import InputError
from trtssd.evaluation.coco import detections_to_coco, evaluate, load_annotations

REPO = Path(__file__).resolve().parents[2]
TFLITE_REFERENCE_MAP = 0.188  # ai-edge-litert on the same subset (../shared/SOURCES.md)


@pytest.fixture(scope="module")
def subset(shared_dir):
    d = shared_dir / "data" / "coco_val2017_subset158"
    return d / "val2017", d / "instances_val2017_subset158.json"


def test_detections_to_coco():
    d = Detections([[10, 20, 40, 60]], [0.5], [18])
    assert detections_to_coco(7, d) == [{"image_id": 7, "category_id": 18, "bbox": [10.0, 20.0, 30.0, 40.0], "score": 0.5}]


def test_eval_ssd_cli_reaches_the_tflite_reference(subset, shared_dir, quant_artifact, tmp_path):
    imgs, ann = subset
    results = tmp_path / "results.json"
    r = subprocess.run(
        [sys.executable, str(REPO / "eval_ssd.py"), "-m", "ssd_mobilenet_v1_coco_quant", "--model_dir",
         str(shared_dir / "models"), "--imgs_dir", str(imgs), "--annotations", str(ann), "--results", str(results)],
        capture_output=True, text=True, timeout=600, env=dict(os.environ),
    )
    assert r.returncode == 0, r.stderr
    last = r.stdout.strip().splitlines()[-1]
    fields = dict(kv.split("=") for kv in last.split())
    assert set(fields) == {"map", "map50"}
    assert float(fields["map"]) >= TFLITE_REFERENCE_MAP
    recs = json.loads(results.read_text())
    assert len(recs) > 0 and max(len([x for x in recs if x["image_id"] == i]) for i in {x["image_id"] for x in recs}) <= 100


def test_perfect_detections_score_one(subset):
    """Feeding the ground truth back as detections gives mAP 1 (checks the plumbing, not the model)."""
    imgs, ann = subset
    gt = load_annotations(ann, imgs)
    ids = iter(sorted(gt.getImgIds()))

    def oracle(images):
        out = []
        for _ in images:
            i = next(ids)
            anns = [a for a in gt.imgToAnns[i] if not a["iscrowd"]]
            xyxy = np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]] for a in anns]).reshape(-1, 4)
            out.append(Detections(xyxy, np.ones(len(anns)), [a["category_id"] for a in anns]))
        return out

    result = evaluate(oracle, imgs, ann, progress=False)
    assert result.map == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("what", ["annotations", "imgs_dir", "bad_json"])
def test_bad_inputs(subset, tmp_path, what):
    imgs, ann = subset
    if what == "annotations":
        args = (tmp_path / "none.json", imgs)
    elif what == "imgs_dir":
        args = (ann, tmp_path / "nodir")
    else:
        (tmp_path / "bad.json").write_text("{not json")
        args = (tmp_path / "bad.json", imgs)
    with pytest.raises(InputError, match="expected"):
        load_annotations(*args)
