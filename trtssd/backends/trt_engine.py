"""TensorRT engine building and the engine cache.

Strongly typed on every supported TensorRT (10.3 and later, 11.x): the network is created with
``NetworkDefinitionCreationFlag.STRONGLY_TYPED`` (TensorRT 10; deprecated and ignored in 11, where
every network is strongly typed), so each tensor's type comes from the engine-ready ONNX of the
requested precision (:mod:`trtssd.conversion.precision`). None of the weak-typing API that
TensorRT 11 removed is used: no ``BuilderFlag.FP16``/``INT8``/``BF16``, no precision-constraint
flags, no INT8 calibrator or calibration profile, no ``platform_has_fast_*``.

Pure Python (unit-tested without TensorRT): :class:`BuildOptions` validation,
:func:`check_precision`, :class:`EngineKey` / cache paths / JSON sidecars, compatibility checks.
TensorRT-touching (needs libnvinfer): :func:`build_serialized` and :func:`ensure_engine`, tested
against fake ``tensorrt`` modules with the 10.3 and 11.x Python API surface
(``tests/backends/fake_tensorrt.py``), never against libnvinfer in this project.

Engines are cached under ``cache_dir()/engines/`` keyed by the engine-ready ONNX sha256 (which
covers the model, the precision variant of its network and the baked NMS settings), precision,
max batch, TensorRT version, GPU name and DLA core; each ``.engine`` has a ``.json`` sidecar with
its key.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from trtssd.errors import BackendError, InputError
from trtssd.fileio import write_bytes_atomic
from trtssd.models.resolve import cache_dir, sha256_file
from trtssd.postprocess.nms import NmsParams

PRECISIONS = ("fp32", "fp16", "int8")
SIDECAR_VERSION = 2
MIN_COMPUTE = {"fp16": (5, 3), "int8": (6, 1)}  # fast FP16 / INT8 (dp4a) from these compute capabilities

Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class BuildOptions:
    """How to build an engine.

    Attributes:
        precision: ``fp32`` | ``fp16`` | ``int8``: which engine-ready ONNX is built (the precision
            is in the graph's tensor types; the builder sets no precision flag).
        max_batch: largest batch of the optimization profile (min 1, opt = max).
        workspace_mib: builder workspace memory pool limit, MiB.
        dla_core: DLA core index (Jetson Xavier/Orin), with GPU fallback; None: GPU only.
        calib_dir: folder of calibration images: int8 by post-training quantization of the
            float network (needed for float models; quantized models use their own Q/DQ).
        calib_batch: calibration batch size; calib_max_images: images used at most.
    """

    precision: str = "fp16"
    max_batch: int = 1
    workspace_mib: int = 1024
    dla_core: int | None = None
    calib_dir: Path | None = None
    calib_batch: int = 8
    calib_max_images: int = 512

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision: expected one of {', '.join(PRECISIONS)}, found {self.precision!r}")
        if self.max_batch < 1:
            raise ValueError(f"max batch: expected >= 1, found {self.max_batch}")
        if self.workspace_mib < 1:
            raise ValueError(f"workspace: expected >= 1 MiB, found {self.workspace_mib}")
        if self.dla_core is not None:
            if self.dla_core < 0:
                raise ValueError(f"DLA core: expected >= 0, found {self.dla_core}")
            if self.precision == "fp32":
                raise ValueError("DLA: expected precision fp16 or int8 (DLA has no fp32), found fp32")
        if self.calib_dir is not None and self.precision != "int8":
            raise ValueError(f"calibration images: expected precision int8, found {self.precision}")
        if self.calib_batch < 1 or self.calib_max_images < 1:
            raise ValueError(f"calibration: expected batch and max images >= 1, found {self.calib_batch}, {self.calib_max_images}")

    def calibration(self, input_hw: tuple[int, int]):
        """The :class:`~trtssd.conversion.calibration.CalibrationData` of ``calib_dir`` (None without)."""
        if self.calib_dir is None:
            return None
        from trtssd.conversion.calibration import CalibrationData

        return CalibrationData(self.calib_dir, input_hw, self.calib_batch, self.calib_max_images)


def check_precision(precision: str, compute_capability: tuple[int, int] | None, gpu_name: str = "this GPU") -> None:
    """Raise BackendError when a GPU of ``compute_capability`` lacks fast ``precision`` (None: unknown, no check).
    Replaces TensorRT 10's ``platform_has_fast_fp16/_int8``, removed in TensorRT 11."""
    need = MIN_COMPUTE.get(precision)
    if need is None or compute_capability is None or tuple(compute_capability) >= need:
        return
    cc = ".".join(map(str, compute_capability))
    fallback = "fp32" if precision == "fp16" else "fp16 or fp32"
    raise BackendError(f"precision {precision}: expected a GPU of compute capability >= {need[0]}.{need[1]}, "
                       f"found {gpu_name} ({cc}); use --precision {fallback}")


def parse_version(text: str) -> tuple[int, ...]:
    """'10.13.0.35' -> (10, 13, 0, 35); '10.3.0rc1' -> (10, 3, 0); non-numeric parts end the tuple."""
    import re

    out = []
    for part in text.split("."):
        m = re.match(r"\d+", part)
        if not m:
            break
        out.append(int(m.group()))
        if m.end() != len(part):  # '0rc1': a pre-release suffix ends the numeric part
            break
    return tuple(out)


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine depends on; equal keys <=> the cached engine can be reused."""

    onnx_sha256: str
    precision: str
    max_batch: int
    trt_version: str
    gpu_name: str
    dla_core: int | None = None

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


def engines_dir() -> Path:
    return cache_dir() / "engines"


def engine_path(key: EngineKey, stem: str) -> Path:
    """Cache path of the engine for ``key`` (``stem``: the engine-ready ONNX file stem)."""
    dla = f"-dla{key.dla_core}" if key.dla_core is not None else ""
    return engines_dir() / f"{stem}-{key.precision}-b{key.max_batch}{dla}-{key.digest()}.engine"


def sidecar_path(engine: Path) -> Path:
    return Path(engine).with_suffix(".json")


def timing_cache_path(trt_version: str, gpu_name: str) -> Path:
    """One timing cache per TensorRT version and GPU (shared by all models)."""
    slug = "".join(ch if ch.isalnum() else "_" for ch in gpu_name)
    return engines_dir() / f"timing-trt{trt_version}-{slug}.cache"


def write_sidecar(engine: Path, key: EngineKey, **extra) -> Path:
    path = sidecar_path(engine)
    path.write_text(json.dumps({"version": SIDECAR_VERSION, "key": asdict(key), **extra}, indent=1, sort_keys=True))
    return path


def read_sidecar(engine: Path) -> EngineKey | None:
    """The key stored beside ``engine``; None when absent or unreadable."""
    try:
        d = json.loads(sidecar_path(engine).read_text())
        return EngineKey(**d["key"]) if d.get("version") == SIDECAR_VERSION else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_sidecar_nms(engine: Path) -> NmsParams | None:
    """The NMS settings baked into ``engine`` according to its sidecar; None when unknown."""
    try:
        return NmsParams(**json.loads(sidecar_path(engine).read_text())["nms"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def check_compatible(engine: Path, key: EngineKey | None, trt_version: str, gpu_name: str) -> None:
    """Raise BackendError when ``engine`` (with sidecar ``key``) was built for another GPU or
    TensorRT version than this machine's."""
    if key is None:
        return
    if key.trt_version != trt_version or key.gpu_name != gpu_name:
        raise BackendError(
            f"{engine.name}: expected an engine built for GPU '{gpu_name}' with TensorRT {trt_version}, found one built "
            f"for GPU '{key.gpu_name}' with TensorRT {key.trt_version}; rebuild it with 'trtssd build' (engines are not portable)"
        )


def find_cached(key: EngineKey, stem: str) -> Path | None:
    """The cached engine for ``key`` when it exists with a matching sidecar, else None."""
    path = engine_path(key, stem)
    return path if path.exists() and read_sidecar(path) == key else None


class Heartbeat:
    """Context manager logging ``msg (N s)`` every ``every_s`` seconds from a daemon thread
    (progress during the long engine build)."""

    def __init__(self, msg: str, log: Log = _stderr, every_s: float = 15.0) -> None:
        self.msg, self.log, self.every_s = msg, log, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self._t0 = 0.0

    def _beat(self) -> None:
        while not self._stop.wait(self.every_s):
            self.log(f"{self.msg} ({time.monotonic() - self._t0:.0f} s)")

    def __enter__(self) -> "Heartbeat":
        self._t0 = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# ---- TensorRT-touching code (TensorRT >= 10.3 Python API) ------------------------------------

def network_flags(trt) -> int:
    """``create_network`` flags: STRONGLY_TYPED (TensorRT 10.x; still accepted, ignored, by 11.x)."""
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    return 0 if flag is None else 1 << int(flag)


def build_serialized(trt, onnx_path: Path, input_name: str, input_hw: tuple[int, int], opts: BuildOptions,
                     timing_cache: Path | None = None, log: Log = _stderr) -> bytes:
    """Parse ``onnx_path`` into a strongly typed network and build a serialized engine (one
    optimization profile ``[1..max_batch, H, W, 3]``, opt = max)."""
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise BackendError(f"TensorRT ONNX parser: expected a parsable network, found errors: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, opts.workspace_mib << 20)
    h, w = input_hw
    profile = builder.create_optimization_profile()
    profile.set_shape(input_name, (1, h, w, 3), (opts.max_batch, h, w, 3), (opts.max_batch, h, w, 3))
    config.add_optimization_profile(profile)
    if opts.dla_core is not None:
        if opts.dla_core >= builder.num_DLA_cores:
            raise BackendError(f"DLA core: expected < {builder.num_DLA_cores} (cores on this device), found {opts.dla_core}")
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = opts.dla_core
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)  # NMS / TopK / Scatter run on the GPU
    if timing_cache is not None:
        cache = config.create_timing_cache(timing_cache.read_bytes() if timing_cache.exists() else b"")
        config.set_timing_cache(cache, ignore_mismatch=False)
    with Heartbeat(f"trtssd: building {opts.precision} TensorRT engine (several minutes on Jetson)", log):
        serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BackendError("TensorRT build: expected a serialized engine, found none (see the TensorRT log above)")
    if timing_cache is not None:
        write_bytes_atomic(timing_cache, bytes(memoryview(config.get_timing_cache().serialize())))
    return bytes(memoryview(serialized))


def ensure_engine(trt, onnx_path: Path, input_name: str, input_hw: tuple[int, int], opts: BuildOptions, *,
                  force: bool = False, log: Log = _stderr) -> Path:
    """Return the cached engine for the engine-ready ONNX ``onnx_path`` (already in
    ``opts.precision``) on this GPU/TensorRT, building it if needed."""
    from trtssd.backends import cuda_rt
    from trtssd.conversion.engine_onnx import read_nms, read_precision

    onnx_path = Path(onnx_path)
    found = read_precision(onnx_path)
    if found != opts.precision:
        raise InputError(f"{onnx_path.name}: expected an engine-ready ONNX in {opts.precision}, found one in {found}")
    gpu = cuda_rt.device_name()
    check_precision(opts.precision, cuda_rt.compute_capability(), gpu)
    key = EngineKey(sha256_file(onnx_path), opts.precision, opts.max_batch, trt.__version__, gpu, opts.dla_core)
    stem = onnx_path.stem
    cached = find_cached(key, stem)
    if cached is not None and not force:
        return cached
    dst = engine_path(key, stem)
    log(f"trtssd: building TensorRT engine -> {dst}")
    t0 = time.monotonic()
    blob = build_serialized(trt, onnx_path, input_name, input_hw, opts, timing_cache_path(trt.__version__, gpu), log)
    write_bytes_atomic(dst, blob)
    write_sidecar(dst, key, nms=asdict(read_nms(onnx_path)), onnx=str(onnx_path), workspace_mib=opts.workspace_mib,
                  build_s=round(time.monotonic() - t0, 1))
    log(f"trtssd: engine built in {time.monotonic() - t0:.0f} s")
    return dst
