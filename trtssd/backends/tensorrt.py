"""``tensorrt`` backend: the engine-ready ONNX built into a TensorRT engine (NMS in-engine), run
through cuda-python with pinned host buffers, device buffers, one CUDA stream, async copies and
``execute_async_v3``.

Thread affinity: the engine is loaded (or built) and its execution context created by
:meth:`~trtssd.backends.final.FinalDetectionsBackend.prepare`, which the first ``detect`` call runs;
create the backend and call ``detect`` in the inference thread (the async pipeline's producer).

Not executed in this project's CI (TensorRT cannot be installed there); see docs/tensorrt.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from trtssd.backends.final import DEFAULT_MIN_SCORE, FinalDetectionsBackend, FinalOutputs, covers
from trtssd.backends.trt_engine import (BuildOptions, check_compatible, ensure_engine, parse_version, read_sidecar,
                                    read_sidecar_nms)
from trtssd.conversion.artifact import INPUT_NAME, ArtifactInfo
from trtssd.conversion.engine_onnx import DEFAULT_CANDIDATES, OUTPUT_NAMES, ensure_engine_onnx, nms_candidates
from trtssd.errors import BackendError
from trtssd.postprocess.nms import NmsParams

MIN_TRT_VERSION = (10, 3)  # JetPack 6.1/6.2's TensorRT; strongly typed networks, ONNX NonMaxSuppression -> INMSLayer
INSTALL_HINT = (
    "TensorRT is not installed: expected the Python module 'tensorrt' (>= 10.3); on x86-64 run "
    "\"pip install 'trtssd[tensorrt]'\" (tensorrt + cuda-python, needs an NVIDIA driver); on Jetson it comes with "
    "JetPack 6.1+ (sudo apt install python3-libnvinfer) plus 'pip install cuda-python'"
)


def is_available() -> bool:
    """True when ``tensorrt`` and cuda-python both import (used by ``--backend auto``)."""
    try:
        import tensorrt  # noqa: F401
    except Exception:  # ImportError, or OSError when libnvinfer is missing
        return False
    try:
        from cuda.bindings import runtime  # noqa: F401
    except Exception:
        try:
            from cuda import cudart  # noqa: F401  (cuda-python < 12.6)
        except Exception:
            return False
    return True


def default_candidates() -> int:
    """NMS candidates per image for this machine's GPU (:func:`nms_candidates`); the TensorRT >= 10
    default where no CUDA device can be queried."""
    try:
        from trtssd.backends import cuda_rt

        return nms_candidates(cuda_rt.compute_capability())
    except Exception:  # no cuda-python, driver or device
        return DEFAULT_CANDIDATES


def import_tensorrt():
    """The ``tensorrt`` module (>= 10.3), or BackendError with installation instructions."""
    try:
        import tensorrt as trt
    except Exception:
        raise BackendError(INSTALL_HINT) from None
    found = parse_version(getattr(trt, "__version__", "0"))
    if found < MIN_TRT_VERSION:
        raise BackendError(f"TensorRT: expected version >= {'.'.join(map(str, MIN_TRT_VERSION))}, found {trt.__version__}")
    return trt


class TensorRTBackend(FinalDetectionsBackend):
    """Options: ``precision`` fp32|fp16|int8 (see :mod:`trtssd.conversion.precision`),
    ``max_batch``, ``workspace_mib``, ``dla_core``, ``calib_dir`` (int8 by post-training
    quantization; quantized models need none), ``engine`` (a prebuilt engine file instead of the cache), ``nms`` /
    ``min_score`` (see :mod:`trtssd.backends.final`)."""

    name = "tensorrt"

    def __init__(self, artifact_path: Path, info: ArtifactInfo, nms: NmsParams | None = None,
                 min_score: float = DEFAULT_MIN_SCORE, precision: str = "fp16", max_batch: int = 1,
                 workspace_mib: int = 1024, dla_core: int | None = None, calib_dir: Path | str | None = None,
                 engine: Path | str | None = None, log=lambda m: print(m, file=sys.stderr, flush=True)) -> None:
        super().__init__(artifact_path, info, nms, min_score)
        self.options = BuildOptions(precision=precision, max_batch=max_batch, workspace_mib=workspace_mib,
                                    dla_core=dla_core, calib_dir=Path(calib_dir) if calib_dir else None)
        self._trt = import_tensorrt()
        from trtssd.backends import cuda_rt

        cuda_rt.require()  # fail now, with the install line, rather than at the first frame
        self._cuda = cuda_rt
        self._engine_file = Path(engine) if engine else None
        self._log = log
        self._engine = self._context = self._stream = None
        self._buffers: dict[str, tuple[np.ndarray, int, int]] = {}  # name -> (pinned host, host ptr, device ptr)
        self.engine_path: Path | None = None
        self.max_batch = max_batch

    def _load(self, baked: NmsParams) -> None:
        trt, cuda = self._trt, self._cuda
        self.close()
        if self._engine_file is not None:
            path = self._engine_file
            check_compatible(path, read_sidecar(path), trt.__version__, cuda.device_name())
        else:
            opts = self.options
            onnx_path = ensure_engine_onnx(self.artifact_path, baked, self.info, precision=opts.precision,
                                           calib=opts.calibration(self.info.input_size),
                                           candidates=nms_candidates(cuda.compute_capability()), log=self._log)
            path = ensure_engine(trt, onnx_path, INPUT_NAME, self.info.input_size, self.options, log=self._log)
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if engine is None:
            raise BackendError(f"{path.name}: expected an engine for TensorRT {trt.__version__} on this GPU, found one "
                               "that does not deserialise (built with another TensorRT version or GPU?); rebuild it with 'trtssd build'")
        if self._engine_file is not None:
            self._check_engine_nms(engine, baked)
        self._engine, self._context = engine, engine.create_execution_context()
        self._stream = cuda.stream_create()
        self.max_batch = int(engine.get_tensor_profile_shape(INPUT_NAME, 0)[2][0])
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            shape = tuple(self.max_batch if d < 0 else d for d in engine.get_tensor_shape(name))
            host, hptr = cuda.pinned_empty(shape, trt.nptype(engine.get_tensor_dtype(name)))
            dptr = cuda.malloc(host.nbytes)
            self._buffers[name] = (host, hptr, dptr)
            self._context.set_tensor_address(name, dptr)
        self.engine_path = path

    def _check_engine_nms(self, engine, baked: NmsParams) -> None:
        """A user-supplied engine has its NMS baked in; require it to cover the request."""
        names = {engine.get_tensor_name(i) for i in range(engine.num_io_tensors)}
        if not set(OUTPUT_NAMES) <= names:
            raise BackendError(f"{self._engine_file.name}: expected outputs {', '.join(OUTPUT_NAMES)}, found {sorted(names)}")
        built = read_sidecar_nms(self._engine_file)
        if built is not None and not covers(built, baked):
            raise BackendError(f"{self._engine_file.name}: expected an engine with NMS {baked}, found one built with {built}; "
                               "rebuild it with 'trtssd build' and matching --conf_th/--iou_th/--max_det/--class_agnostic")

    def _run(self, images: np.ndarray) -> FinalOutputs:
        if len(images) > self.max_batch:
            parts = [self._run(images[i:i + self.max_batch]) for i in range(0, len(images), self.max_batch)]
            return tuple(np.concatenate(p) for p in zip(*parts))
        cuda, n = self._cuda, len(images)
        self._context.set_input_shape(INPUT_NAME, images.shape)
        host, _, dptr = self._buffers[INPUT_NAME]
        host[:n] = images
        cuda.memcpy_htod_async(dptr, host[:n], self._stream)
        if not self._context.execute_async_v3(self._stream):
            raise BackendError("TensorRT: expected execute_async_v3 to succeed, found failure")
        for name in OUTPUT_NAMES:
            h, _, d = self._buffers[name]
            cuda.memcpy_dtoh_async(h[:n], d, self._stream)
        cuda.stream_sync(self._stream)
        return tuple(self._buffers[name][0][:n].copy() for name in OUTPUT_NAMES)

    def close(self) -> None:
        cuda = self._cuda
        for _, hptr, dptr in self._buffers.values():
            cuda.free(dptr)
            cuda.free_host(hptr)
        self._buffers = {}
        if self._stream is not None:
            cuda.stream_destroy(self._stream)
        self._engine = self._context = self._stream = None
        self.baked_nms = None
