"""TF2 Object Detection API SavedModel (``exporter_main_v2.py`` output, ``saved_model/`` directory)
-> trtssd ONNX artifact.

The ``serving_default`` signature (``input_tensor`` uint8 ``[1, ?, ?, 3]``) is frozen with
``convert_variables_to_constants_v2`` (which inlines the model's function calls, so OD API names
such as ``.../BoxPredictor/.../concat`` and ``.../Preprocessor/...`` appear in one GraphDef), then
converted exactly like a TF1 frozen graph (:func:`trtssd.conversion.tf1.convert_graph_def`): the
raw prediction tensors (``concat`` / ``concat_1`` of the box predictor) become the outputs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from trtssd.conversion.artifact import ArtifactInfo
from trtssd.conversion.tf1 import LabelsFor, convert_graph_def
from trtssd.conversion.tfgraph import NodeOverrides, import_tf
from trtssd.errors import ConversionError, ModelFormatError
from trtssd.models.spec import ModelSpec

CONVERTER = "tf2-2"
SIGNATURE = "serving_default"


def saved_model_dir(path: Path) -> Path:
    """The directory holding ``saved_model.pb`` (``path`` itself or its ``saved_model/`` child)."""
    path = Path(path)
    for cand in (path, path / "saved_model"):
        if (cand / "saved_model.pb").is_file():
            return cand
    raise ModelFormatError(f"{path}: expected a SavedModel directory (saved_model.pb), found none")


def saved_model_digest(path: Path) -> str:
    """sha256 over the SavedModel's files (relative names and contents, sorted by name)."""
    root = saved_model_dir(path)
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(root)).encode())
        with open(f, "rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
    return h.hexdigest()


def find_or_fetch_saved_model(spec: ModelSpec, model_dir: Path | str | None = None) -> Path:
    """A registered SavedModel's directory: found in the model directories (as ``<filename>/`` or
    ``<filename>/saved_model/``), else downloaded from ``spec.source.url`` (a zoo .tar.gz) and its
    ``archive_member`` directory unpacked into ``<model dir>/<filename>``."""
    import shutil
    import tarfile
    import tempfile
    import urllib.error
    import urllib.request

    from trtssd.errors import ModelNotFoundError
    from trtssd.models.resolve import DOWNLOAD_TIMEOUT_S, cache_dir, model_dirs, sha256_file

    src = spec.source
    dirs = model_dirs(model_dir)
    for d in dirs:
        for cand in (d / src.filename, d / src.filename / "saved_model"):
            if (cand / "saved_model.pb").is_file():
                return cand
    target = (dirs[0] if model_dir else cache_dir() / "models")
    where = f"put the SavedModel directory {src.filename}/ into {target} (searched: {', '.join(str(d) for d in dirs)})"
    if not src.url or not src.archive_member:
        raise ModelNotFoundError(f"model '{spec.name}' not found: {where}")
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target, prefix=".download-") as tmp:
        archive = Path(tmp) / "model.tar.gz"
        try:
            with urllib.request.urlopen(src.url, timeout=DOWNLOAD_TIMEOUT_S) as resp, open(archive, "wb") as out:
                shutil.copyfileobj(resp, out)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise ModelNotFoundError(f"model '{spec.name}' not found and its download from {src.url} failed "
                                     f"({getattr(exc, 'reason', exc)}): {where}") from None
        digest = sha256_file(archive)
        if src.sha256 and digest != src.sha256:
            raise ModelFormatError(f"download of {spec.name} from {src.url}: expected sha256 {src.sha256}, found {digest}")
        prefix = src.archive_member.rstrip("/") + "/"
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith(prefix) and (m.isfile() or m.isdir())]
            if not members:
                raise ModelFormatError(f"{src.url}: expected a directory {prefix} in the archive, found none")
            if hasattr(tarfile, "data_filter"):
                tar.extractall(tmp, members=members, filter="data")
            else:  # Python without extraction filters: members are plain files/dirs under prefix
                tar.extractall(tmp, members=members)
        final = target / src.filename
        if final.exists():
            shutil.rmtree(final)
        (Path(tmp) / src.archive_member).rename(final)
    return final


def frozen_signature_graph_def(path: Path, signature: str = SIGNATURE):
    """The signature's function as one frozen GraphDef (variables -> constants, calls inlined)."""
    tf = import_tf()
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    root = saved_model_dir(path)
    try:
        loaded = tf.saved_model.load(str(root))
    except Exception as exc:  # tf raises many kinds
        raise ModelFormatError(f"{root}: expected a loadable SavedModel, found {exc.__class__.__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    if signature not in loaded.signatures:
        raise ConversionError(f"{root}: expected signature '{signature}', found {sorted(loaded.signatures) or 'none'}")
    fn = loaded.signatures[signature]
    frozen = convert_variables_to_constants_v2(fn)
    return frozen.graph.as_graph_def()


def convert_saved_model(src: Path, dst: Path, *, model_name: str, source_sha256: str, labels_for: LabelsFor,
                        spec: ModelSpec | None = None, overrides: NodeOverrides = NodeOverrides(),
                        log: Callable[[str], None] = lambda msg: None) -> ArtifactInfo:
    """Convert the SavedModel directory ``src`` into the artifact ``dst``."""
    graph_def = frozen_signature_graph_def(src)
    return convert_graph_def(graph_def, dst, model_name=model_name, source_sha256=source_sha256,
                             labels_for=labels_for, spec=spec, overrides=overrides, converter=CONVERTER, log=log)
