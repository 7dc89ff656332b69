"""pytest plugin for running the torch tests on a GPU machine without TensorFlow:
``python -m pytest -p bench.gpu_pytest_plugin tests/backends/test_torch.py`` with
``TRTSSD_PREBUILT_ARTIFACT`` = an artifact converted elsewhere (``trtssd convert``). It makes
``ensure_artifact`` return that artifact for the shared quantised model instead of converting."""

import os
from pathlib import Path

import trtssd.conversion.api as api
from trtssd.conversion.artifact import read_info

_orig = api.ensure_artifact


def _prebuilt(model, model_dir=None, **kwargs):
    path = os.environ.get("TRTSSD_PREBUILT_ARTIFACT")
    if path and model == "ssd_mobilenet_v1_coco_quant":
        return Path(path), read_info(Path(path))
    return _orig(model, model_dir, **kwargs)


api.ensure_artifact = _prebuilt
