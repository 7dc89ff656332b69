"""Shared fixtures: the ../shared data folder, an isolated cache, the converted reference model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
QUANT_MODEL = "ssd_mobilenet_v1_coco_quant"


# In CI everything but an NVIDIA GPU and TensorRT is installed (make setup): any other skip there
# means a test silently did not run, so it fails instead.
CI_ALLOWED_SKIPS = ("CUDA", "GPU", "TensorRT", "cuda-python")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        reason = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if not any(word in reason for word in CI_ALLOWED_SKIPS):
            report.outcome = "failed"
            report.longrepr = f"skipped in CI, where only GPU/TensorRT tests may skip: {reason}"


def _shared() -> Path:
    return Path(os.environ.get("TRTSSD_SHARED_DIR", REPO.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The project's data folder (``$TRTSSD_SHARED_DIR`` or ``../shared``); skips when absent."""
    d = _shared()
    if not (d / "models").is_dir():
        pytest.skip(f"shared data folder not found at {d} (set TRTSSD_SHARED_DIR)")
    return d


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory) -> Path:
    """Every test session converts into its own cache, never the user's."""
    d = tmp_path_factory.mktemp("trtssd-cache")
    old = os.environ.get("TRTSSD_CACHE_DIR")
    os.environ["TRTSSD_CACHE_DIR"] = str(d)
    yield d
    if old is None:
        os.environ.pop("TRTSSD_CACHE_DIR", None)
    else:
        os.environ["TRTSSD_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def quant_artifact(shared_dir, isolated_cache):
    """``(path, ArtifactInfo)`` of the shared TFLite model converted once per session."""
    from trtssd.conversion.api import ensure_artifact

    return ensure_artifact(QUANT_MODEL, shared_dir / "models")


@pytest.fixture(scope="session")
def cpu_detector(quant_artifact):
    """A CPU (ONNX Runtime) Detector on the converted artifact, conf 0.3."""
    from trtssd.detector import Detector

    with Detector(str(quant_artifact[0]), "onnxruntime", conf_th=0.3) as det:
        yield det


# The real SSD exports (issue 10) live in the user's trtssd cache, where `make test` fetches them
# during setup (`trtssd models --fetch ...`); this is computed before `isolated_cache` redirects
# the cache, and conversions still go to the session's own cache.
REAL_EXPORTS = ("ssdlite_mobilenet_v2_coco", "pedestrian_ssdlite_mobilenet_v2", "ssd_mobilenet_v2_oidv4")


def _user_models_dir() -> Path:
    from trtssd.models.resolve import cache_dir

    return cache_dir() / "models"


USER_MODELS_DIR = _user_models_dir()


@pytest.fixture(scope="session")
def real_export(isolated_cache):
    """``get(name) -> (artifact path, ArtifactInfo, source path)`` for a real export: fetched into
    the user cache if absent (skips when that fails, which CI turns into a failure), converted
    once per session."""
    from trtssd.conversion.api import ensure_artifact
    from trtssd.errors import ModelNotFoundError
    from trtssd.models.resolve import resolve_model

    done: dict[str, tuple] = {}

    def get(name: str):
        if name not in done:
            try:
                source = resolve_model(name, USER_MODELS_DIR).path
            except ModelNotFoundError as exc:
                pytest.skip(f"real export {name} not available (make test fetches it): {exc}")
            done[name] = (*ensure_artifact(name, USER_MODELS_DIR), source)
        return done[name]

    return get


@pytest.fixture(scope="session")
def user_models_dir() -> Path:
    """Where `make test` fetched the real exports (the user cache's models folder)."""
    return USER_MODELS_DIR
