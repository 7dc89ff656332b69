"""cuda-python helpers of the TensorRT backend, on a real GPU (skipped without cuda-python/CUDA)."""

from __future__ import annotations

import numpy as np
import pytest

from trtssd.errors import BackendError


@pytest.fixture(scope="module")
def cuda_rt():
    from trtssd.backends import cuda_rt

    try:
        cuda_rt.device_name()
    except BackendError as exc:  # cuda-python missing, no driver or no device
        pytest.skip(f"no CUDA device: {exc}")
    return cuda_rt


@pytest.mark.gpu
@pytest.mark.parametrize("shape,dtype", [((3, 300, 300, 3), np.uint8), ((2, 100, 4), np.float32), ((2,), np.int32)])
def test_pinned_async_roundtrip(cuda_rt, shape, dtype):
    host, hptr = cuda_rt.pinned_empty(shape, dtype)
    out, optr = cuda_rt.pinned_empty(shape, dtype)
    dptr, stream = cuda_rt.malloc(host.nbytes), cuda_rt.stream_create()
    try:
        host[:] = np.random.default_rng(0).integers(0, 100, shape).astype(dtype)
        out[:] = 0
        cuda_rt.memcpy_htod_async(dptr, host[:1], stream)  # first row only
        cuda_rt.memcpy_dtoh_async(out[:1], dptr, stream)
        cuda_rt.stream_sync(stream)
        np.testing.assert_array_equal(out[:1], host[:1])
        assert not out[1:].any()
        cuda_rt.memcpy_htod(dptr, np.ascontiguousarray(host[::-1]))
        cuda_rt.memcpy_dtoh_async(out, dptr, stream)
        cuda_rt.stream_sync(stream)
        np.testing.assert_array_equal(out, host[::-1])
    finally:
        cuda_rt.free(dptr)
        cuda_rt.free_host(hptr)
        cuda_rt.free_host(optr)
        cuda_rt.stream_destroy(stream)


@pytest.mark.gpu
def test_cuda_error_becomes_backend_error(cuda_rt):
    with pytest.raises(BackendError, match="cudaMalloc: expected cudaSuccess, found cudaErrorMemoryAllocation"):
        cuda_rt.malloc(1 << 52)


@pytest.mark.gpu
def test_compute_capability_matches_torch(cuda_rt):
    """The compute capability that picks the NMS candidate limit and replaces platform_has_fast_*."""
    cc = cuda_rt.compute_capability()
    assert isinstance(cc, tuple) and len(cc) == 2 and all(isinstance(v, int) for v in cc) and cc >= (5, 0)
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        assert cc == torch.cuda.get_device_capability(0)
