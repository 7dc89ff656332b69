"""Model registry and lookup, including a real download from an HTTP server on loopback."""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from trtssd.errors import ModelFormatError, ModelNotFoundError
from trtssd.models import resolve
from trtssd.models.zoo import MODELS, get_spec

TD_NAMES = ["ssd_mobilenet_v1_coco", "ssd_mobilenet_v2_coco", "ssdlite_mobilenet_v2_coco", "ssd_inception_v2_coco",
            "ssd_mobilenet_v1_egohands", "ssd_mobilenet_v2_egohands"]


@pytest.mark.parametrize("name", TD_NAMES + ["ssd_mobilenet_v1_coco_quant"])
def test_registered(name):
    spec = get_spec(name)
    assert spec.name == name and spec.input_size == (300, 300)
    assert spec.num_classes == (2 if "egohands" in name else 91)
    assert spec.labels[0] == "background"


def test_unknown_name_suggests():
    with pytest.raises(ModelNotFoundError, match="did you mean ssd_mobilenet_v1_coco"):
        get_spec("ssd_mobilenet_v1_cocoo")


@pytest.mark.parametrize("name", TD_NAMES)
def test_absent_model_names_the_file_and_place(name, tmp_path, monkeypatch):
    monkeypatch.setattr(resolve, "_CHECKOUT_SHARED", tmp_path / "none")
    monkeypatch.delenv("TRTSSD_MODEL_DIR", raising=False)
    with pytest.raises(ModelNotFoundError) as e:
        resolve.resolve_model(name, tmp_path, allow_download=False)
    msg = str(e.value)
    assert MODELS[name].source.filename in msg and str(tmp_path) in msg and "\n" not in msg


def test_finds_shared_model(shared_dir):
    r = resolve.resolve_model("ssd_mobilenet_v1_coco_quant", shared_dir / "models")
    assert r.kind == "tflite" and r.spec.name == "ssd_mobilenet_v1_coco_quant"


def test_env_model_dir(shared_dir, monkeypatch):
    monkeypatch.setenv("TRTSSD_MODEL_DIR", str(shared_dir / "models"))
    assert resolve.resolve_model("ssd_mobilenet_v1_coco_quant").path.parent == (shared_dir / "models").resolve()


@pytest.mark.parametrize(
    "content, suffix, error",
    [
        (b"not a model at all", ".bin", ModelFormatError),
        (b"\x00" * 16, ".tflite", ModelFormatError),  # .tflite name, no TFL3 identifier
    ],
)
def test_wrong_kind_of_file(tmp_path, content, suffix, error):
    p = tmp_path / f"model{suffix}"
    p.write_bytes(content)
    with pytest.raises(error, match="expected"):
        resolve.resolve_model(str(p))


def test_missing_path():
    with pytest.raises(ModelNotFoundError, match="model file not found"):
        resolve.resolve_model("/nonexistent/model.tflite")


@pytest.fixture
def http_root(tmp_path):
    """A real HTTP server on 127.0.0.1 serving ``tmp_path/www``."""
    root = tmp_path / "www"
    root.mkdir()
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(root), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _zip_with(member: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(member, data)
    return buf.getvalue()


def test_download_verifies_and_extracts(http_root, tmp_path, shared_dir):
    root, base = http_root
    data = (shared_dir / "models" / "coco_ssd_mobilenet_v1_1.0_quant_detect.tflite").read_bytes()
    (root / "model.zip").write_bytes(_zip_with("detect.tflite", data))
    spec = get_spec("ssd_mobilenet_v1_coco_quant")
    out = resolve.download_model(spec, tmp_path / "models", url=f"{base}/model.zip")
    assert out == tmp_path / "models" / spec.source.filename
    assert hashlib.sha256(out.read_bytes()).hexdigest() == spec.source.sha256
    assert [p.name for p in (tmp_path / "models").iterdir()] == [spec.source.filename]  # no temp left


def test_download_rejects_wrong_checksum(http_root, tmp_path):
    root, base = http_root
    (root / "model.zip").write_bytes(_zip_with("detect.tflite", b"TFL3 but not the real model"))
    spec = get_spec("ssd_mobilenet_v1_coco_quant")
    with pytest.raises(ModelFormatError, match="expected sha256"):
        resolve.download_model(spec, tmp_path / "models", url=f"{base}/model.zip")
    assert list((tmp_path / "models").iterdir()) == []


def test_failed_download_is_one_clear_line(http_root, tmp_path, monkeypatch):
    _, base = http_root
    spec = get_spec("ssd_mobilenet_v1_coco_quant")
    fake = replace(spec, source=replace(spec.source, url=f"{base}/missing.zip"))
    monkeypatch.setitem(MODELS, spec.name, fake)
    monkeypatch.setattr(resolve, "_CHECKOUT_SHARED", tmp_path / "none")
    monkeypatch.delenv("TRTSSD_MODEL_DIR", raising=False)
    with pytest.raises(ModelNotFoundError, match="download from .* failed") as e:
        resolve.resolve_model(spec.name, tmp_path / "md")
    assert "\n" not in str(e.value) and spec.source.filename in str(e.value)


def test_tar_member_extraction(tmp_path):
    import tarfile

    src = tmp_path / "frozen_inference_graph.pb"
    src.write_bytes(b"graph")
    with tarfile.open(tmp_path / "m.tar.gz", "w:gz") as tf:
        tf.add(src, arcname="m/frozen_inference_graph.pb")
    out = resolve._extract(tmp_path / "m.tar.gz", "m/frozen_inference_graph.pb", tmp_path)
    assert Path(out).read_bytes() == b"graph"
