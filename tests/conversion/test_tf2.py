"""TF2 SavedModel conversion, on tiny SavedModels with the TF OD API SSD structure (odapi_graphs.py)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # odapi_graphs (helper module beside the tests)

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")
pytest.importorskip("onnx_graphsurgeon")

from odapi_graphs import (  # noqa: E402
    CONF_TH, EGOHANDS_NON_SQUARE, TinySsd, assert_same_detections, graph_spec, run_saved_model, make_images,
    write_saved_model,
)

from trtssd.conversion.api import ensure_artifact  # noqa: E402
from trtssd.conversion.tf2 import frozen_signature_graph_def, saved_model_digest  # noqa: E402
from trtssd.conversion.tfgraph import find_ssd_graph, od_api_anchors  # noqa: E402
from trtssd.detector import Detector  # noqa: E402
from trtssd.errors import ModelFormatError  # noqa: E402
from trtssd.models.labels import COCO_90, EGOHANDS  # noqa: E402

# TF2 OD API SSDs normalise before resizing (ssd_meta_arch.preprocess)
COCO_SQUARE = TinySsd(input_size=(64, 64), num_classes=91, seed=2, normalize_first=True)
EGOHANDS_NON_SQUARE = replace(EGOHANDS_NON_SQUARE, normalize_first=True)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TRTSSD_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("tf2")
    return {name: write_saved_model(cfg, d / name / "saved_model")
            for name, cfg in (("coco", COCO_SQUARE), ("egohands", EGOHANDS_NON_SQUARE))}


def test_finds_nodes_in_frozen_signature(saved_models):
    ssd = find_ssd_graph(frozen_signature_graph_def(saved_models["coco"]))
    # convert_variables_to_constants_v2 inlines the model call: names gain a call-op prefix
    assert ssd.boxes.endswith("/concat:0") and ssd.classes.endswith("/concat_1:0")
    # a static batch of 1 makes the OD API unstack / resize / stack instead of using a map loop
    assert ssd.image.endswith("Preprocessor/stack:0") and ssd.anchors.endswith("Concatenate/concat:0")
    assert ssd.batch_one and ssd.input_size == COCO_SQUARE.input_size
    assert ssd.coder_scales == (10.0, 10.0, 5.0, 5.0)


@pytest.mark.parametrize("name, cfg, labels", [("coco", COCO_SQUARE, COCO_90), ("egohands", EGOHANDS_NON_SQUARE, EGOHANDS)])
def test_converted_saved_model_matches_tensorflow(saved_models, name, cfg, labels):
    # the export directory (parent of saved_model/) is accepted too
    model = saved_models[name].parent if name == "egohands" else saved_models[name]
    _, info = ensure_artifact(str(model))
    assert info.input_size == cfg.input_size and info.labels == labels
    np.testing.assert_allclose(info.anchors_cyxhw, od_api_anchors(graph_spec(cfg), cfg.input_size), atol=1e-6, rtol=0)
    images = make_images(cfg, 3, seed=11)
    tf_out = [run_saved_model(saved_models[name], im[None]) for im in images]  # the signature takes batch 1
    tf_out = {k: np.concatenate([o[k] for o in tf_out]) for k in tf_out[0]}
    with Detector(str(model), conf_th=CONF_TH) as det:
        dets = det.detect_batch([im[..., ::-1].copy() for im in images])  # batch 3 on a batch-1 export
    assert assert_same_detections(tf_out, dets, cfg) > 0


def test_saved_model_digest_tracks_content(saved_models, tmp_path):
    a = saved_model_digest(saved_models["coco"])
    assert a == saved_model_digest(saved_models["coco"].parent)
    assert a != saved_model_digest(saved_models["egohands"])


def test_directory_without_saved_model_is_explained(tmp_path):
    with pytest.raises(ModelFormatError, match="saved_model.pb"):
        saved_model_digest(tmp_path)


@pytest.mark.parametrize("input_size", [(320, 320), (640, 640), (320, 480)])
def test_multiscale_anchors_fpnlite(input_size):
    """FPNLite (multiscale_anchor_generator levels 3..7, anchor_scale 4, ratios 1/2/0.5, 2 scales per octave)."""
    from odapi_graphs import multiscale_grid_anchors

    from trtssd.conversion.tfgraph import multiscale_anchors
    from trtssd.models.spec import MultiscaleAnchorSpec

    spec = MultiscaleAnchorSpec()
    corners = multiscale_grid_anchors(3, 7, 4.0, (1.0, 2.0, 0.5), 2, *input_size).numpy().astype(np.float64)
    h, w = corners[:, 2] - corners[:, 0], corners[:, 3] - corners[:, 1]
    expected = np.stack([corners[:, 0] + h / 2, corners[:, 1] + w / 2, h, w], axis=1)
    ours = multiscale_anchors(spec, input_size)
    cells = sum(-(-input_size[0] // 2 ** lv) * -(-input_size[1] // 2 ** lv) for lv in range(3, 8))
    assert ours.shape == (cells * 6, 4)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-6)


def test_registered_saved_model_found_in_model_dir_and_checked(saved_models, tmp_path):
    """A registered TF2 name is looked up as <model_dir>/<archive name>/saved_model; the registry's
    input size (300x300) is checked against the graph's resize (64x64 here)."""
    import shutil

    from trtssd.errors import ConversionError

    dst = tmp_path / "models" / "ssd_mobilenet_v2_320x320_coco17_tpu-8" / "saved_model"
    shutil.copytree(saved_models["coco"], dst)
    with pytest.raises(ConversionError, match=r"expected input size \(300, 300\).*found \(64, 64\)"):
        ensure_artifact("ssd_mobilenet_v2_320x320_coco17", tmp_path / "models")
