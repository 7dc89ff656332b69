"""Model name/path -> cached trtssd ONNX artifact (converting once, keyed by source sha256 and
converter version)."""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

from trtssd.conversion.artifact import ArtifactInfo, read_info
from trtssd.errors import ConversionError
from trtssd.models.labels import default_labels, load_label_file
from trtssd.models.resolve import ResolvedModel, cache_dir, resolve_model, sha256_file
from trtssd.models.zoo import MODELS


def _resolve_tf_source(model: str, model_dir) -> ResolvedModel | None:
    """TF sources that :func:`resolve_model` does not handle: a TF1 zoo ``.tar.gz`` path (matched
    to its registry entry by download file name), a TF2 export directory holding ``saved_model/``,
    and registered TF2 SavedModels (directories; downloaded and unpacked by trtssd.conversion.tf2)."""
    if model in MODELS:
        spec = MODELS[model]
        if spec.source.kind != "tf2_saved_model":
            return None
        from trtssd.conversion.tf2 import find_or_fetch_saved_model

        return ResolvedModel(find_or_fetch_saved_model(spec, model_dir), "tf2_saved_model", spec)
    path = Path(model).expanduser()
    if path.name.endswith((".tar.gz", ".tgz")) and path.is_file():
        spec = next((s for s in MODELS.values() if s.source.url and s.source.url.endswith("/" + path.name)), None)
        return ResolvedModel(path.resolve(), "tf1_frozen", spec)
    if path.is_dir() and (path / "saved_model" / "saved_model.pb").is_file():
        spec = next((s for s in MODELS.values() if s.source.filename == path.name), None)
        return ResolvedModel((path / "saved_model").resolve(), "tf2_saved_model", spec)
    return None


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
                    log=lambda msg: print(msg, file=sys.stderr), overrides=None) -> tuple[Path, ArtifactInfo]:
    """Resolve ``model`` and return ``(artifact path, info)``, converting on first use.

    ``overrides``: optional :class:`trtssd.conversion.tfgraph.NodeOverrides` (TF graphs only).
    """
    resolved = _resolve_tf_source(model, model_dir) or resolve_model(model, model_dir)
    if resolved.kind == "onnx":
        return resolved.path, read_info(resolved.path)
    if resolved.kind in ("tf1_frozen", "tf2_saved_model", "tfjs_graph"):
        return _ensure_tf_artifact(resolved, force=force, log=log, overrides=overrides)
    digest = sha256_file(resolved.path)
    if resolved.kind == "tflite":
        from trtssd.conversion import tflite

        anchors = (overrides.anchors if overrides else None) or (resolved.spec.anchors if resolved.spec else None)
        converter = tflite.CONVERTER
        if overrides and overrides.anchors:
            converter += "-a" + hashlib.sha256(repr(overrides.anchors).encode()).hexdigest()[:8]
        dst = artifact_cache_path(resolved, digest, converter)
        if dst.exists() and not force:
            return dst, read_info(dst)
        # Inspect first: a file that is not a (complete) TFLite SSD fails before any progress line.
        num_classes = int(tflite.inspect_tflite(resolved.path, anchors).options.get("num_classes", 90)) + 1
        log(f"trtssd: converting {resolved.path.name} -> {dst} (one-off, about 15 s)")
        t0 = time.monotonic()
        info = tflite.convert_tflite(
            resolved.path, dst, model_name=resolved.name, source_sha256=digest,
            labels=_labels_for(resolved, num_classes),
            postprocess=resolved.spec.postprocess if resolved.spec else None, anchors=anchors,
        )
        log(f"trtssd: converted in {time.monotonic() - t0:.1f} s")
        return dst, info
    raise ConversionError(
        f"{resolved.path.name}: expected a TFLite SSD, TF1 frozen graph, TF2 SavedModel, TF.js graph model or trtssd ONNX artifact, "
        f"found a {resolved.kind} model"
    )


def _ensure_tf_artifact(resolved: ResolvedModel, *, force: bool, log, overrides) -> tuple[Path, ArtifactInfo]:
    """TF1 frozen graph / TF2 SavedModel / TF.js graph model -> artifact (see trtssd.conversion.tf1 /
    tf2 / tfjs)."""
    from trtssd.conversion import tf1, tf2, tfjs
    from trtssd.conversion.tfgraph import NodeOverrides, labels_beside

    overrides = overrides or NodeOverrides()
    module, digest_of = {"tf1_frozen": (tf1, sha256_file), "tf2_saved_model": (tf2, tf2.saved_model_digest),
                         "tfjs_graph": (tfjs, tfjs.tfjs_digest)}[resolved.kind]
    digest = digest_of(resolved.path)
    converter = module.CONVERTER
    if overrides.key():  # different node choices -> a different artifact
        converter += "-n" + hashlib.sha256(overrides.key().encode()).hexdigest()[:8]
    dst = artifact_cache_path(resolved, digest, converter)
    if dst.exists() and not force:
        return dst, read_info(dst)
    log(f"trtssd: converting {resolved.path.name} -> {dst} (one-off)")
    t0 = time.monotonic()
    convert = {"tf1_frozen": tf1.convert_tf1, "tf2_saved_model": tf2.convert_saved_model,
               "tfjs_graph": tfjs.convert_tfjs}[resolved.kind]
    name = resolved.path.parent.name if resolved.spec is None and resolved.path.name == "saved_model" else resolved.name
    info = convert(resolved.path, dst, model_name=name, source_sha256=digest,
                   labels_for=lambda n: labels_beside(resolved.path, n) or _labels_for(resolved, n),
                   spec=resolved.spec, overrides=overrides, log=log)
    log(f"trtssd: converted in {time.monotonic() - t0:.1f} s")
    return dst, info
