"""Fake ``tensorrt`` modules with the Python API surface of TensorRT 10.3 and of TensorRT 11.x,
for driving :mod:`trtssd.backends.trt_engine` end to end where libnvinfer cannot be installed.

Only the names the builder could touch are modelled, each exactly as the real bindings spell it;
everything a version lacks is absent (``AttributeError``, as with pybind11 classes, which take no
new attributes). The builder's calls are recorded for the tests to check.

Where the surface comes from (NVIDIA/TensorRT sources at tags v10.3.0 and v11.1, read for this):

* ``python/src/infer/pyCore.cpp``:
  - ``BuilderFlag``: 10.3 has FP16, BF16, INT8, DEBUG, GPU_FALLBACK, REFIT, DISABLE_TIMING_CACHE,
    TF32, SPARSE_WEIGHTS, SAFETY_SCOPE, OBEY_PRECISION_CONSTRAINTS, PREFER_PRECISION_CONSTRAINTS,
    DIRECT_IO, REJECT_EMPTY_ALGORITHMS, VERSION_COMPATIBLE, EXCLUDE_LEAN_RUNTIME, FP8,
    ERROR_ON_TIMING_CACHE_MISS, DISABLE_COMPILATION_CACHE, WEIGHTLESS, STRIP_PLAN, REFIT_IDENTICAL,
    WEIGHT_STREAMING, INT4, REFIT_INDIVIDUAL; 11.1 drops FP16, BF16, INT8, FP8, INT4, both
    precision-constraint flags, REJECT_EMPTY_ALGORITHMS and WEIGHTLESS, and adds
    EDITABLE_TIMING_CACHE, STRICT_NANS, MONITOR_MEMORY, DISTRIBUTIVE_INDEPENDENCE.
  - ``NetworkDefinitionCreationFlag``: 10.3 EXPLICIT_BATCH (0, deprecated), STRONGLY_TYPED (1);
    11.1 STRONGLY_TYPED (0, "Deprecated: always enabled"), PREFER_JIT_PYTHON_PLUGINS (1),
    PREFER_AOT_PYTHON_PLUGINS (2) (values: include/NvInfer.h).
  - ``Builder``: ``create_network(flags=0)``, ``create_builder_config``,
    ``create_optimization_profile``, ``build_serialized_network``, ``num_DLA_cores``; the
    ``platform_has_tf32`` / ``platform_has_fast_fp16`` / ``platform_has_fast_int8`` properties
    exist in 10.3 only.
  - ``IBuilderConfig``: ``set_memory_pool_limit``, ``set_flag``/``get_flag``/``clear_flag``,
    ``default_device_type``, ``DLA_core``, ``add_optimization_profile``,
    ``create_timing_cache(serialized_timing_cache)``, ``set_timing_cache(cache, ignore_mismatch)``,
    ``get_timing_cache``; ``int8_calibrator`` and ``set_calibration_profile`` (deprecated since
    10.1: "Superseded by explicit quantization") exist in 10.3 only.
  - ``MemoryPoolType.WORKSPACE``, ``DeviceType.GPU``/``DLA``, ``Logger.WARNING``,
    ``ITimingCache.serialize``, ``IOptimizationProfile.set_shape(input, min, opt, max)``.
* ``python/src/infer/pyInt8.cpp`` (``IInt8EntropyCalibrator2``): in v10.3.0, gone in v11.1.
* ``python/src/parsers/pyOnnx.cpp``: ``OnnxParser(network, logger)``, ``parse_from_file``,
  ``num_errors``, ``get_error``.
* ``python/src/infer/pyGraph.cpp``: ``INetworkDefinition.flags`` / ``get_flag``.
* Runtime side, the same names in both versions (pyCore.cpp, pyFoundationalTypes.cpp,
  bindings_wheel/tensorrt/__init__.py): ``Runtime(logger).deserialize_cuda_engine``,
  ``ICudaEngine.num_io_tensors`` / ``get_tensor_name`` / ``get_tensor_shape`` /
  ``get_tensor_dtype`` / ``get_tensor_profile_shape`` / ``create_execution_context``,
  ``IExecutionContext.set_input_shape`` / ``set_tensor_address`` / ``execute_async_v3``,
  ``DataType`` (FLOAT, HALF, INT8, INT32, INT64, BOOL, UINT8) and ``nptype``. The fake engine
  runs the engine-ready ONNX it was "built" from in ONNX Runtime, on a fake device memory
  (:class:`FakeCuda`, standing in for :mod:`trtssd.backends.cuda_rt`).
* NVIDIA's TensorRT 11.0 Python API page (Builder): "STRONGLY_TYPED : [DEPRECATED] Deprecated in
  TensorRT 11.0. Strongly typed mode is always enabled. This flag is retained for API
  compatibility but is ignored."; the 11.4.1 DLA guide: "The following builder flags were removed
  in TensorRT 11.0 and no longer exist: kFP16, kINT8, kPREFER_PRECISION_CONSTRAINTS,
  kOBEY_PRECISION_CONSTRAINTS".
"""

from __future__ import annotations

import enum
import types
from pathlib import Path

_FLAGS_COMMON = ("DEBUG", "GPU_FALLBACK", "REFIT", "DISABLE_TIMING_CACHE", "TF32", "SPARSE_WEIGHTS", "SAFETY_SCOPE",
                 "DIRECT_IO", "VERSION_COMPATIBLE", "EXCLUDE_LEAN_RUNTIME", "ERROR_ON_TIMING_CACHE_MISS",
                 "DISABLE_COMPILATION_CACHE", "STRIP_PLAN", "REFIT_IDENTICAL", "WEIGHT_STREAMING", "REFIT_INDIVIDUAL")
BUILDER_FLAGS = {
    10: _FLAGS_COMMON + ("FP16", "BF16", "INT8", "OBEY_PRECISION_CONSTRAINTS", "PREFER_PRECISION_CONSTRAINTS",
                         "REJECT_EMPTY_ALGORITHMS", "FP8", "WEIGHTLESS", "INT4"),
    11: _FLAGS_COMMON + ("EDITABLE_TIMING_CACHE", "STRICT_NANS", "MONITOR_MEMORY", "DISTRIBUTIVE_INDEPENDENCE"),
}
NETWORK_FLAGS = {
    10: {"EXPLICIT_BATCH": 0, "STRONGLY_TYPED": 1},
    11: {"STRONGLY_TYPED": 0, "PREFER_JIT_PYTHON_PLUGINS": 1, "PREFER_AOT_PYTHON_PLUGINS": 2},
}
# Names TensorRT 11 removed that a builder must not use (checked absent from the 11 fake).
REMOVED_IN_11 = ("BuilderFlag.FP16", "BuilderFlag.INT8", "BuilderFlag.BF16", "BuilderFlag.OBEY_PRECISION_CONSTRAINTS",
                 "BuilderFlag.PREFER_PRECISION_CONSTRAINTS", "IInt8EntropyCalibrator2", "IBuilderConfig.int8_calibrator",
                 "IBuilderConfig.set_calibration_profile", "Builder.platform_has_fast_fp16",
                 "Builder.platform_has_fast_int8")


class Calls(list):
    """What the builder did: ``(name, args)`` tuples in call order."""

    def names(self) -> list[str]:
        return [n for n, _ in self]

    def args(self, name: str) -> list[tuple]:
        return [a for n, a in self if n == name]


def make(version: str = "10.3.0.26", *, num_dla_cores: int = 0, parse_errors: tuple[str, ...] = (),
         build_fails: bool = False) -> types.ModuleType:
    """A fake ``tensorrt`` module for ``version`` (major 10: the 10.3 surface; 11: the 11.x surface).

    ``module.calls`` records the builder's calls; ``module.builds`` counts engine builds.
    """
    major = int(version.split(".")[0])
    if major not in (10, 11):
        raise ValueError(f"fake tensorrt: expected version 10.x or 11.x, found {version}")
    calls = Calls()
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.calls = calls
    trt.builds = 0

    trt.BuilderFlag = enum.IntEnum("BuilderFlag", {n: i for i, n in enumerate(BUILDER_FLAGS[major])})
    trt.NetworkDefinitionCreationFlag = enum.IntEnum("NetworkDefinitionCreationFlag", NETWORK_FLAGS[major])
    trt.MemoryPoolType = enum.IntEnum("MemoryPoolType", {"WORKSPACE": 0, "DLA_MANAGED_SRAM": 1, "DLA_LOCAL_DRAM": 2,
                                                         "DLA_GLOBAL_DRAM": 3, "TACTIC_DRAM": 4, "TACTIC_SHARED_MEMORY": 5})
    trt.DeviceType = enum.IntEnum("DeviceType", {"GPU": 0, "DLA": 1})

    class Logger:
        INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = range(5)

        def __init__(self, min_severity=1) -> None:
            self.min_severity = min_severity

    class ITimingCache:
        __slots__ = ("blob",)

        def __init__(self, blob: bytes) -> None:
            self.blob = blob

        def serialize(self):
            return memoryview(b"timing-cache/" + self.blob[-64:])

    class IOptimizationProfile:
        __slots__ = ("shapes",)

        def __init__(self) -> None:
            self.shapes = {}

        def set_shape(self, input, min, opt, max) -> None:  # noqa: A002 - the binding's argument names
            calls.append(("profile.set_shape", (input, tuple(min), tuple(opt), tuple(max))))
            self.shapes[input] = (tuple(min), tuple(opt), tuple(max))

    class INetworkDefinition:
        __slots__ = ("flags", "input_names", "num_inputs", "onnx_path")

        def __init__(self, flags: int) -> None:
            self.flags, self.input_names, self.num_inputs, self.onnx_path = flags, [], 0, None

        def get_flag(self, flag) -> bool:
            return bool(self.flags & (1 << int(flag)))

    config_slots = ["_flags", "_pools", "_profiles", "_device", "_dla_core", "_cache"]

    class IBuilderConfig:
        __slots__ = tuple(config_slots + (["_calibrator"] if major == 10 else []))

        def __init__(self) -> None:
            self._flags, self._pools, self._profiles = set(), {}, []
            self._device, self._dla_core, self._cache = trt.DeviceType.GPU, 0, None
            if major == 10:
                self._calibrator = None

        def set_memory_pool_limit(self, pool, pool_size) -> None:
            calls.append(("config.set_memory_pool_limit", (trt.MemoryPoolType(pool), int(pool_size))))
            self._pools[pool] = pool_size

        def set_flag(self, flag) -> None:
            calls.append(("config.set_flag", (trt.BuilderFlag(flag),)))
            self._flags.add(trt.BuilderFlag(flag))

        def get_flag(self, flag) -> bool:
            return trt.BuilderFlag(flag) in self._flags

        def clear_flag(self, flag) -> None:
            self._flags.discard(trt.BuilderFlag(flag))

        @property
        def default_device_type(self):
            return self._device

        @default_device_type.setter
        def default_device_type(self, value) -> None:
            calls.append(("config.default_device_type", (trt.DeviceType(value),)))
            self._device = trt.DeviceType(value)

        @property
        def DLA_core(self) -> int:  # noqa: N802 - the binding's name
            return self._dla_core

        @DLA_core.setter
        def DLA_core(self, value: int) -> None:  # noqa: N802
            calls.append(("config.DLA_core", (int(value),)))
            self._dla_core = int(value)

        def add_optimization_profile(self, profile) -> int:
            calls.append(("config.add_optimization_profile", (dict(profile.shapes),)))
            self._profiles.append(profile)
            return len(self._profiles) - 1

        def create_timing_cache(self, serialized_timing_cache) -> ITimingCache:
            blob = bytes(memoryview(serialized_timing_cache))
            calls.append(("config.create_timing_cache", (blob,)))
            return ITimingCache(blob)

        def set_timing_cache(self, cache, ignore_mismatch) -> bool:
            calls.append(("config.set_timing_cache", (cache.blob, bool(ignore_mismatch))))
            self._cache = cache
            return True

        def get_timing_cache(self):
            return self._cache

    if major == 10:  # deprecated in 10.1 ("Superseded by explicit quantization"), removed in 11
        def _get_calibrator(self):
            calls.append(("config.int8_calibrator", ()))
            return self._calibrator

        def _set_calibrator(self, value) -> None:
            calls.append(("config.int8_calibrator=", (value,)))
            self._calibrator = value

        IBuilderConfig.int8_calibrator = property(_get_calibrator, _set_calibrator)
        IBuilderConfig.set_calibration_profile = lambda self, profile: calls.append(("config.set_calibration_profile", ()))

    class OnnxParser:
        __slots__ = ("network", "errors")

        def __init__(self, network, logger) -> None:
            self.network, self.errors = network, []

        def parse_from_file(self, model) -> bool:
            import onnx

            calls.append(("parser.parse_from_file", (model,)))
            graph = onnx.load(str(model), load_external_data=False).graph  # a real file, a real ONNX
            self.network.input_names = [i.name for i in graph.input]
            self.network.onnx_path = str(model)
            self.network.num_inputs = len(graph.input)
            self.errors = list(parse_errors)
            return not self.errors

        @property
        def num_errors(self) -> int:
            return len(self.errors)

        def get_error(self, index: int) -> str:
            return self.errors[index]

    class Builder:
        __slots__ = ("logger",)

        def __init__(self, logger) -> None:
            self.logger = logger

        def create_network(self, flags: int = 0):
            calls.append(("builder.create_network", (int(flags),)))
            return INetworkDefinition(int(flags))

        def create_builder_config(self):
            return IBuilderConfig()

        def create_optimization_profile(self):
            return IOptimizationProfile()

        @property
        def num_DLA_cores(self) -> int:  # noqa: N802
            return num_dla_cores

        def build_serialized_network(self, network, config):
            calls.append(("builder.build_serialized_network", (network.flags, frozenset(config._flags))))
            trt.builds += 1
            for profile in config._profiles:
                unknown = set(profile.shapes) - set(network.input_names)
                if unknown:
                    raise RuntimeError(f"profile names unknown inputs {unknown}")
            if build_fails:
                return None
            if config._cache is not None:
                config._cache.blob += b"+timings"
            profile = config._profiles[0].shapes if config._profiles else {}
            blob = b"fake-engine:" + version.encode() + b":" + str(len(_ENGINES)).encode()
            _ENGINES[blob] = (network.onnx_path, {k: v[2][0] for k, v in profile.items()})
            return memoryview(blob)

    if major == 10:
        def _platform(name: str):
            def get(self) -> bool:
                calls.append((f"builder.{name}", ()))
                return True
            return property(get)

        for _name in ("platform_has_tf32", "platform_has_fast_fp16", "platform_has_fast_int8"):
            setattr(Builder, _name, _platform(_name))

        class IInt8EntropyCalibrator2:  # removed with the other calibrators in 11
            def __init__(self) -> None:
                calls.append(("IInt8EntropyCalibrator2", ()))

        trt.IInt8EntropyCalibrator2 = IInt8EntropyCalibrator2

    trt.DataType = enum.IntEnum("DataType", {"FLOAT": 0, "HALF": 1, "INT8": 2, "INT32": 3, "BOOL": 4, "UINT8": 5, "INT64": 8})
    _np = {trt.DataType.FLOAT: "float32", trt.DataType.HALF: "float16", trt.DataType.INT8: "int8",
           trt.DataType.INT32: "int32", trt.DataType.INT64: "int64", trt.DataType.BOOL: "bool", trt.DataType.UINT8: "uint8"}
    _from_onnx = {1: trt.DataType.FLOAT, 10: trt.DataType.HALF, 3: trt.DataType.INT8, 6: trt.DataType.INT32,
                  7: trt.DataType.INT64, 9: trt.DataType.BOOL, 2: trt.DataType.UINT8}

    def nptype(trt_type):
        import numpy as np

        return np.dtype(_np[trt.DataType(trt_type)]).type

    class IExecutionContext:
        __slots__ = ("engine", "shapes", "addresses")

        def __init__(self, engine) -> None:
            self.engine, self.shapes, self.addresses = engine, {}, {}

        def set_input_shape(self, name, shape) -> bool:
            calls.append(("context.set_input_shape", (name, tuple(shape))))
            self.shapes[name] = tuple(shape)
            return True

        def set_tensor_address(self, name, memory) -> bool:
            self.addresses[name] = int(memory)
            return True

        def execute_async_v3(self, stream_handle) -> bool:
            calls.append(("context.execute_async_v3", (int(stream_handle),)))
            return self.engine.execute(self)

    class ICudaEngine:
        __slots__ = ("onnx_path", "max_batch", "io", "session")

        def __init__(self, onnx_path: str, max_batch: dict) -> None:
            import onnx
            import onnxruntime as ort

            graph = onnx.load(onnx_path, load_external_data=False).graph
            self.onnx_path, self.max_batch = onnx_path, max_batch
            self.io = []  # (name, shape with -1 for symbolic dims, DataType, is_input)
            for v, is_input in [(i, True) for i in graph.input] + [(o, False) for o in graph.output]:
                t = v.type.tensor_type
                dims = tuple(d.dim_value if d.dim_value else -1 for d in t.shape.dim)
                self.io.append((v.name, dims, _from_onnx[t.elem_type], is_input))
            self.session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])

        @property
        def num_io_tensors(self) -> int:
            return len(self.io)

        def get_tensor_name(self, index: int) -> str:
            return self.io[index][0]

        def get_tensor_shape(self, name: str):
            return next(shape for n, shape, _, _ in self.io if n == name)

        def get_tensor_dtype(self, name: str):
            return next(dt for n, _, dt, _ in self.io if n == name)

        def get_tensor_profile_shape(self, name: str, profile_index: int):
            b = self.max_batch[name]
            shape = self.get_tensor_shape(name)
            return [tuple(1 if d < 0 else d for d in shape), tuple(b if d < 0 else d for d in shape),
                    tuple(b if d < 0 else d for d in shape)]

        def create_execution_context(self):
            return IExecutionContext(self)

        def execute(self, context) -> bool:
            import numpy as np

            mem = FakeCuda.memory
            feeds = {}
            for name, shape, dt, is_input in self.io:
                if is_input:
                    full = context.shapes[name]
                    feeds[name] = mem[context.addresses[name]][: int(np.prod(full)) * np.dtype(nptype(dt)).itemsize] \
                        .view(nptype(dt)).reshape(full)
            outs = self.session.run([n for n, _, _, i in self.io if not i], feeds)
            for (name, _, _, is_input), out in zip([x for x in self.io if not x[3]], outs):
                raw = np.ascontiguousarray(out).view(np.uint8).reshape(-1)
                mem[context.addresses[name]][: raw.size] = raw
            return True

    class Runtime:
        __slots__ = ("logger",)

        def __init__(self, logger) -> None:
            self.logger = logger

        def deserialize_cuda_engine(self, serialized_engine):
            entry = _ENGINES.get(bytes(serialized_engine))
            return None if entry is None else ICudaEngine(*entry)

    trt.nptype, trt.Runtime, trt.ICudaEngine, trt.IExecutionContext = nptype, Runtime, ICudaEngine, IExecutionContext
    trt.Logger, trt.Builder, trt.OnnxParser = Logger, Builder, OnnxParser
    trt.IBuilderConfig, trt.ITimingCache, trt.IOptimizationProfile = IBuilderConfig, ITimingCache, IOptimizationProfile
    trt.INetworkDefinition = INetworkDefinition
    return trt


_ENGINES: dict[bytes, tuple[str, dict]] = {}  # serialized fake engine -> (engine-ready ONNX, max batch per input)


class FakeCuda:
    """Stands in for :mod:`trtssd.backends.cuda_rt` (the hardware boundary): device memory is a
    dict of byte arrays, copies are synchronous, streams are numbers."""

    memory: dict[int, "np.ndarray"] = {}
    _next = [1]

    @classmethod
    def install(cls, monkeypatch, cuda_rt, device: str, cc: tuple[int, int]) -> None:
        """Replace ``cuda_rt``'s functions (through ``monkeypatch``) for a GPU named ``device``."""
        import numpy as np

        cls.memory = {}
        gpu_name = device

        def malloc(nbytes):
            ptr = cls._next[0]
            cls._next[0] += 1
            cls.memory[ptr] = np.zeros(max(int(nbytes), 1), np.uint8)
            return ptr

        def pinned_empty(shape, dtype):
            arr = np.zeros(shape, dtype)
            return arr, malloc(0)

        def htod(dst, src, stream=None, nbytes=None):
            raw = np.ascontiguousarray(src).view(np.uint8).reshape(-1)
            cls.memory[dst][: raw.size] = raw

        def dtoh(dst, src, stream=None, nbytes=None):
            dst[...] = cls.memory[src][: dst.nbytes].view(dst.dtype).reshape(dst.shape)

        for name, fn in {"malloc": malloc, "pinned_empty": pinned_empty, "memcpy_htod_async": htod,
                         "memcpy_htod": lambda d, s: htod(d, s), "memcpy_dtoh_async": dtoh,
                         "free": lambda p: cls.memory.pop(p, None), "free_host": lambda p: cls.memory.pop(p, None),
                         "stream_create": lambda: 7, "stream_sync": lambda s: None, "stream_destroy": lambda s: None,
                         "require": lambda: None, "device_name": lambda device=None: gpu_name,
                         "compute_capability": lambda device=None: cc}.items():
            monkeypatch.setattr(cuda_rt, name, fn)


def has_name(trt: types.ModuleType, dotted: str) -> bool:
    """Whether ``trt`` has ``Class.member`` (or a top-level name)."""
    obj = trt
    for part in dotted.split("."):
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return True


def engine_file(path: Path) -> bytes:
    return Path(path).read_bytes()
