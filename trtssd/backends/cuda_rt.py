"""The few CUDA runtime calls the TensorRT backend needs, through cuda-python
(``cuda.bindings.runtime``; ``cuda.cudart`` on cuda-python < 12.6). Every call returns
``(error, *values)``; :func:`check` turns a failure into :class:`BackendError`.
"""

from __future__ import annotations

import ctypes

import numpy as np

from trtssd.errors import BackendError


def _cudart():
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart  # cuda-python < 12.6
        except ImportError:
            raise BackendError(
                "cuda-python is not installed: expected the 'cuda.bindings' module; "
                "install it with: pip install cuda-python (or pip install 'trtssd[tensorrt]')"
            ) from None
    return cudart


def require() -> None:
    """Raise BackendError (with the install command) when cuda-python is missing."""
    _cudart()


def check(result, what: str = "CUDA call"):
    """Unpack a cuda-python ``(err, *values)`` result: the value(s), or raise BackendError."""
    cudart = _cudart()
    err, *values = result if isinstance(result, tuple) else (result,)
    if err != cudart.cudaError_t.cudaSuccess:
        _, msg = cudart.cudaGetErrorString(err)
        raise BackendError(f"{what}: expected cudaSuccess, found {err.name} ({msg.decode() if isinstance(msg, bytes) else msg})")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def device_name(device: int | None = None) -> str:
    """Name of the current (or given) CUDA device, e.g. 'NVIDIA GeForce RTX 3060' / 'Orin'."""
    cudart = _cudart()
    dev = check(cudart.cudaGetDevice(), "cudaGetDevice") if device is None else device
    prop = check(cudart.cudaGetDeviceProperties(dev), "cudaGetDeviceProperties")
    name = prop.name
    return (name.split(b"\0", 1)[0].decode() if isinstance(name, bytes) else str(name)).strip()


def compute_capability(device: int | None = None) -> tuple[int, int]:
    """``(major, minor)`` compute capability of the current (or given) CUDA device, e.g. (8, 7) for Orin."""
    cudart = _cudart()
    dev = check(cudart.cudaGetDevice(), "cudaGetDevice") if device is None else device
    prop = check(cudart.cudaGetDeviceProperties(dev), "cudaGetDeviceProperties")
    return int(prop.major), int(prop.minor)


def malloc(nbytes: int) -> int:
    return int(check(_cudart().cudaMalloc(max(int(nbytes), 1)), "cudaMalloc"))


def free(ptr: int) -> None:
    check(_cudart().cudaFree(ptr), "cudaFree")


def pinned_empty(shape: tuple[int, ...], dtype) -> tuple[np.ndarray, int]:
    """A page-locked host array (``cudaMallocHost``) and its pointer (free with :func:`free_host`)."""
    dtype = np.dtype(dtype)
    nbytes = max(int(np.prod(shape)) * dtype.itemsize, 1)
    ptr = int(check(_cudart().cudaMallocHost(nbytes), "cudaMallocHost"))
    buf = (ctypes.c_byte * nbytes).from_address(ptr)
    return np.frombuffer(buf, dtype=dtype, count=int(np.prod(shape))).reshape(shape), ptr


def free_host(ptr: int) -> None:
    check(_cudart().cudaFreeHost(ptr), "cudaFreeHost")


def stream_create() -> int:
    return int(check(_cudart().cudaStreamCreate(), "cudaStreamCreate"))


def stream_sync(stream: int) -> None:
    check(_cudart().cudaStreamSynchronize(stream), "cudaStreamSynchronize")


def stream_destroy(stream: int) -> None:
    check(_cudart().cudaStreamDestroy(stream), "cudaStreamDestroy")


def memcpy_htod_async(dst: int, src: np.ndarray, stream: int, nbytes: int | None = None) -> None:
    cudart = _cudart()
    n = src.nbytes if nbytes is None else nbytes
    check(cudart.cudaMemcpyAsync(dst, src.ctypes.data, n, cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream),
          "cudaMemcpyAsync(host->device)")


def memcpy_dtoh_async(dst: np.ndarray, src: int, stream: int, nbytes: int | None = None) -> None:
    cudart = _cudart()
    n = dst.nbytes if nbytes is None else nbytes
    check(cudart.cudaMemcpyAsync(dst.ctypes.data, src, n, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream),
          "cudaMemcpyAsync(device->host)")


def memcpy_htod(dst: int, src: np.ndarray) -> None:
    cudart = _cudart()
    check(cudart.cudaMemcpy(dst, src.ctypes.data, src.nbytes, cudart.cudaMemcpyKind.cudaMemcpyHostToDevice),
          "cudaMemcpy(host->device)")
