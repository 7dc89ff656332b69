"""Model name/path -> cached trtssd ONNX artifact (converting once, keyed by source sha256 and
converter version)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from trtssd.conversion.artifact import ArtifactInfo, read_info
from trtssd.errors import ConversionError
from trtssd.models.labels import default_labels, load_label_file
from trtssd.models.resolve import ResolvedModel, cache_dir, resolve_model, sha256_file


def artifact_cache_path(resolved: ResolvedModel, source_sha256: str, converter: str) -> Path:
    return cache_dir() / "artifacts" / f"{resolved.name}-{source_sha256[:16]}-{converter}.onnx"


def _labels_for(resolved: ResolvedModel, num_classes_hint: int | None) -> tuple[str, ...]:
    if resolved.spec:
        return resolved.spec.labels
    for cand in (resolved.path.with_name("labelmap.txt"), resolved.path.with_suffix(".txt")):
        if cand.exists():
            return load_label_file(cand)
    return default_labels(num_classes_hint or 91)


def ensure_artifact(model: str, model_dir: Path | str | None = None, *, force: bool = False,
                    log=lambda msg: print(msg, file=sys.stderr)) -> tuple[Path, ArtifactInfo]:
    """Resolve ``model`` and return ``(artifact path, info)``, converting on first use."""
    resolved = resolve_model(model, model_dir)
    if resolved.kind == "onnx":
        return resolved.path, read_info(resolved.path)
    digest = sha256_file(resolved.path)
    if resolved.kind == "tflite":
        from trtssd.conversion import tflite

        dst = artifact_cache_path(resolved, digest, tflite.CONVERTER)
        if dst.exists() and not force:
            return dst, read_info(dst)
        log(f"trtssd: converting {resolved.path.name} -> {dst} (one-off, about 15 s)")
        t0 = time.monotonic()
        num_classes = int(tflite.inspect_tflite(resolved.path).options.get("num_classes", 90)) + 1
        info = tflite.convert_tflite(
            resolved.path, dst, model_name=resolved.name, source_sha256=digest,
            labels=_labels_for(resolved, num_classes),
            postprocess=resolved.spec.postprocess if resolved.spec else None,
        )
        log(f"trtssd: converted in {time.monotonic() - t0:.1f} s")
        return dst, info
    raise ConversionError(
        f"{resolved.path.name}: expected a TFLite SSD or a trtssd ONNX artifact, found a {resolved.kind} model; "
        "TF1 frozen-graph and TF2 SavedModel conversion is not implemented yet"
    )
