"""Engine build options, precision validation, cache keys, sidecars and invalidation (no TensorRT)."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from trtssd.backends import trt_engine as te
from trtssd.errors import BackendError
from trtssd.postprocess.nms import NmsParams

KEY = te.EngineKey(onnx_sha256="ab" * 32, precision="fp16", max_batch=4, trt_version="10.13.0.35",
                   gpu_name="NVIDIA GeForce RTX 3060", dla_core=None)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TRTSSD_CACHE_DIR", str(tmp_path / "cache"))


@pytest.mark.parametrize("kwargs,message", [
    (dict(precision="fp64"), "precision: expected one of fp32, fp16, int8, found 'fp64'"),
    (dict(precision="FP16"), "found 'FP16'"),
    (dict(max_batch=0), "max batch: expected >= 1, found 0"),
    (dict(workspace_mib=0), "workspace: expected >= 1 MiB"),
    (dict(dla_core=-1, precision="fp16"), "DLA core: expected >= 0"),
    (dict(dla_core=0, precision="fp32"), "DLA: expected precision fp16 or int8"),
    (dict(calib_dir=Path("imgs"), precision="fp16"), "calibration images: expected precision int8"),
    (dict(precision="int8", calib_batch=0), "calibration: expected batch and max images >= 1"),
])
def test_build_options_rejects(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        te.BuildOptions(**kwargs)


@pytest.mark.parametrize("kwargs", [
    dict(), dict(precision="fp32", max_batch=8), dict(precision="int8", calib_dir=Path("x"), dla_core=1),
    dict(precision="fp16", dla_core=0),
])
def test_build_options_accepts(kwargs):
    assert te.BuildOptions(**kwargs).precision in te.PRECISIONS


@pytest.mark.parametrize("precision,cc,error", [
    ("fp32", (5, 0), None),
    ("fp16", (5, 3), None),
    ("fp16", (5, 2), "precision fp16: expected a GPU of compute capability >= 5.3, found GTX 980 (5.2); use --precision fp32"),
    ("int8", (6, 1), None),
    ("int8", (6, 0), "precision int8: expected a GPU of compute capability >= 6.1, found GTX 980 (6.0); use --precision fp16 or fp32"),
    ("int8", None, None),  # unknown: TensorRT decides
])
def test_check_precision(precision, cc, error):
    if error is None:
        te.check_precision(precision, cc)
    else:
        with pytest.raises(BackendError) as exc:
            te.check_precision(precision, cc, "GTX 980")
        assert str(exc.value) == error


@pytest.mark.parametrize("text,expected", [
    ("10.13.0.35", (10, 13, 0, 35)), ("10.0.1", (10, 0, 1)), ("8.6.1.post1", (8, 6, 1)), ("10.3.0rc1", (10, 3, 0)),
    ("unknown", ()),
])
def test_parse_version(text, expected):
    assert te.parse_version(text) == expected


@pytest.mark.parametrize("field,value", [
    ("onnx_sha256", "cd" * 32), ("precision", "int8"), ("max_batch", 1), ("trt_version", "10.14.1"),
    ("gpu_name", "Orin"), ("dla_core", 0),
])
def test_engine_key_changes_with_every_field(field, value):
    other = replace(KEY, **{field: value})
    assert other.digest() != KEY.digest()
    assert te.engine_path(other, "m") != te.engine_path(KEY, "m")


def test_engine_key_digest_is_stable():
    assert replace(KEY).digest() == KEY.digest() and len(KEY.digest()) == 16
    path = te.engine_path(KEY, "model-e1")
    assert path.parent == te.engines_dir() and path.name.startswith("model-e1-fp16-b4-") and path.suffix == ".engine"
    assert "-dla0-" in te.engine_path(replace(KEY, dla_core=0), "m").name


def test_sidecar_roundtrip_and_find_cached():
    path = te.engine_path(KEY, "m")
    assert te.find_cached(KEY, "m") is None  # nothing built yet
    path.parent.mkdir(parents=True)
    path.write_bytes(b"engine")
    assert te.find_cached(KEY, "m") is None  # engine without sidecar: rebuild
    nms = NmsParams(0.05, 0.6, 100, 100)
    te.write_sidecar(path, KEY, nms=asdict(nms))
    assert te.read_sidecar(path) == KEY
    assert te.read_sidecar_nms(path) == nms
    assert te.find_cached(KEY, "m") == path
    # A sidecar describing another key (e.g. an interrupted rebuild) invalidates the engine.
    te.write_sidecar(path, replace(KEY, trt_version="10.0.1"))
    assert te.find_cached(KEY, "m") is None


@pytest.mark.parametrize("content", ["", "{not json", '{"version": 99, "key": {}}', '{"version": 1, "key": {"x": 1}}'])
def test_read_sidecar_unreadable_is_none(tmp_path, content):
    engine = tmp_path / "e.engine"
    te.sidecar_path(engine).write_text(content)
    assert te.read_sidecar(engine) is None
    assert te.read_sidecar_nms(engine) is None


@pytest.mark.parametrize("trt_version,gpu,error", [
    ("10.13.0.35", "NVIDIA GeForce RTX 3060", None),
    ("10.14.1", "NVIDIA GeForce RTX 3060", "built for GPU 'NVIDIA GeForce RTX 3060' with TensorRT 10.13.0.35"),
    ("10.13.0.35", "Orin", "expected an engine built for GPU 'Orin'"),
])
def test_check_compatible(trt_version, gpu, error):
    engine = Path("/x/m.engine")
    if error is None:
        te.check_compatible(engine, KEY, trt_version, gpu)
    else:
        with pytest.raises(BackendError, match=error) as exc:
            te.check_compatible(engine, KEY, trt_version, gpu)
        assert "rebuild it with 'trtssd build'" in str(exc.value) and "\n" not in str(exc.value)


def test_check_compatible_without_sidecar_defers_to_tensorrt():
    te.check_compatible(Path("m.engine"), None, "10.13", "Orin")


def test_timing_cache_path_per_version_and_gpu():
    a = te.timing_cache_path("10.13.0", "NVIDIA GeForce RTX 3060")
    assert a.parent == te.engines_dir() and " " not in a.name
    assert a != te.timing_cache_path("10.14.0", "NVIDIA GeForce RTX 3060") != te.timing_cache_path("10.13.0", "Orin")


def test_heartbeat_logs_progress_and_stops():
    seen = threading.Event()
    lines: list[str] = []

    def log(msg: str) -> None:
        lines.append(msg)
        seen.set()

    with te.Heartbeat("building", log, every_s=0.01):
        assert seen.wait(10.0)
    n = len(lines)
    assert lines[0].startswith("building (") and lines[0].endswith(" s)")
    time.sleep(0.05)
    assert len(lines) == n  # the thread was joined: no more lines once stopped
