"""PyTorch backend: the artifact network as a native module (:mod:`trtssd.backends.torch_net`) on
a CUDA GPU (FP16 or FP32, CUDA graphs, channels_last) or on the CPU (FP32, for parity tests).

:meth:`TorchBackend.detect` (the :class:`~trtssd.backends.base.Backend` contract) on CUDA does
everything on the device: BGR uint8 frames of any size are copied once into a pinned buffer and
uploaded (or taken as a device tensor as they are), resized + normalised, run through the network,
decoded and NMS-ed on the GPU (:mod:`trtssd.postprocess.torch_ops`); only the final detections come
back, in one copy per batch. On the CPU it takes the host path of the base class.
:meth:`TorchBackend.infer` (raw outputs as numpy) serves the network benchmark and parity tests.

Thread affinity: create and use a TorchBackend in one thread (its CUDA graphs, pinned buffers and
the stream they were captured on belong to it): the engine's inference thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from trtssd.backends.base import Backend, StageClock, check_frames
from trtssd.conversion.artifact import ArtifactInfo
from trtssd.detections import Detections
from trtssd.errors import BackendError
from trtssd.postprocess.nms import NmsParams

PRECISIONS = {"fp32": "float32", "fp16": "float16"}


def is_available() -> bool:
    """True when torch imports and sees a CUDA device (what ``--backend auto`` needs)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


class _Graphed:
    """``fn(static_input)`` captured in a CUDA graph; calling copies the input in and replays.

    The returned tensors are the graph's static outputs: they are overwritten by the next call.
    """

    def __init__(self, fn: Callable, example, warmup: int = 3) -> None:
        import torch

        self.static_in = example.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(warmup):  # cuDNN autotuning and allocations happen outside the capture
                fn(self.static_in)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.static_out = fn(self.static_in)

    def __call__(self, x):
        if x.data_ptr() != self.static_in.data_ptr():
            self.static_in.copy_(x, non_blocking=True)
        self.graph.replay()
        return self.static_out


class TorchBackend(Backend):
    """Runs the artifact with PyTorch.

    Args:
        device: ``"cuda"``, ``"cuda:1"``, ``"cpu"``; default CUDA when available, else CPU.
        precision: ``"fp16"`` or ``"fp32"``; default fp16 on CUDA, fp32 on the CPU.
        cuda_graph: capture each (batch, input shape) once in a CUDA graph and replay it (CUDA only).
        channels_last: NHWC convolutions (default on CUDA).
        compile: ``torch.compile`` the network (``True`` or an inductor mode name such as
            ``"max-autotune-no-cudagraphs"``); compiled once per input shape, before graph capture.
        device_path: resize, decode and NMS with torch ops on ``device`` (default: on CUDA only).
    """

    name = "torch"

    def __init__(self, artifact_path: Path, info: ArtifactInfo, nms: NmsParams | None = None,
                 device: str | None = None, precision: str | None = None, cuda_graph: bool = True,
                 channels_last: bool | None = None, compile: bool | str = False,
                 device_path: bool | None = None) -> None:
        super().__init__(artifact_path, info, nms)
        try:
            import torch
        except ImportError:
            raise BackendError("backend 'torch': expected PyTorch installed (pip install 'trtssd[torch]'), found none") from None
        from trtssd.backends.torch_net import build_net, prepare_net

        self.torch = torch
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise BackendError(f"backend 'torch': expected a CUDA device for device={device!r}, found none")
        precision = precision or ("fp16" if self.device.type == "cuda" else "fp32")
        if precision not in PRECISIONS:
            raise BackendError(f"backend 'torch': expected precision in {list(PRECISIONS)}, found {precision!r}")
        self.precision = precision
        self.dtype = getattr(torch, PRECISIONS[precision])
        on_cuda = self.device.type == "cuda"
        self.cuda_graph = cuda_graph and on_cuda
        # On CUDA detect() runs on the device; on the CPU the base class's numpy path is faster
        # (device_path=True there runs the torch ops on the CPU: how they are tested in CI).
        self.device_path = on_cuda if device_path is None else device_path
        if on_cuda:
            torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick the fastest kernels
            # PyTorch runs float32 convolutions in TF32 on Ampere and later by default (10-bit
            # mantissa): logits then differ from the CPU reference by up to ~0.2 on these nets.
            # fp32 here means IEEE float32, as the CPU backends compute it; fp16 is the fast path.
            if precision == "fp32":
                torch.backends.cudnn.allow_tf32 = False
                torch.backends.cuda.matmul.allow_tf32 = False
        self.net = prepare_net(build_net(self.artifact_path), self.device, self.dtype,
                               channels_last=on_cuda if channels_last is None else channels_last)
        self.net_fn = self.net
        if compile:
            mode = compile if isinstance(compile, str) else None
            # One compiled graph per input shape and dtype (batch sizes, raw vs resized input):
            # raise dynamo's per-function recompile limit (default 8) so a sweep stays compiled.
            limit = "recompile_limit" if hasattr(torch._dynamo.config, "recompile_limit") else "cache_size_limit"
            setattr(torch._dynamo.config, limit, max(getattr(torch._dynamo.config, limit), 64))
            self.net_fn = torch.compile(self.net, mode=mode, dynamic=False, fullgraph=True)
        self.anchors = torch.from_numpy(np.ascontiguousarray(info.anchors_cyxhw, dtype=np.float32)).to(self.device)
        if on_cuda:
            self._warm_nms()
        self._graphs: dict[tuple, _Graphed] = {}
        self._seen: dict[tuple, int] = {}
        self._pinned: dict[tuple, object] = {}
        self._inputs: dict[tuple, object] = {}
        self._batch_sizes: dict[tuple, set[int]] = {}

    def _warm_nms(self) -> None:
        """Run the NMS kernels once now: their first launch loads (or JIT-compiles) torchvision's
        CUDA code, seconds that would otherwise land on the first frame with a detection."""
        from trtssd.postprocess.torch_ops import grouped_nms

        torch = self.torch
        boxes = torch.tensor([[0.1, 0.1, 0.5, 0.5], [0.12, 0.1, 0.5, 0.5]], device=self.device)
        grouped_nms(boxes, torch.tensor([0.9, 0.8], device=self.device), torch.zeros(2, dtype=torch.int64, device=self.device), 0.5)
        torch.cuda.synchronize(self.device)

    # ---- network only -------------------------------------------------------------------
    def _run(self, kind: str, fn: Callable, x):
        """Run ``fn(x)`` eagerly, or through a cached CUDA graph keyed by kind and input shape."""
        torch = self.torch
        with torch.inference_mode():
            if not self.cuda_graph:
                return fn(x)
            key = (kind, tuple(x.shape), x.dtype)
            g = self._graphs.get(key)
            if g is None:
                # Capture on the second use of a shape: one-off shapes (still images of many
                # sizes) run eagerly instead of each paying for, and holding, a graph.
                self._seen[key] = self._seen.get(key, 0) + 1
                if self._seen[key] < 2:
                    return fn(x)
                g = self._graphs[key] = _Graphed(fn, x)
            return g(x)

    def infer_tensor(self, images):
        """uint8 ``[N, H, W, 3]`` RGB tensor on the device -> ``(box_encodings, class_scores)``
        device tensors in the network dtype (graph outputs: valid until the next call)."""
        return self._run("net", self.net_fn, images)

    def batch_size_for(self, n: int, frame_shape: tuple[int, ...]) -> int:
        """The batch ``n`` frames of ``frame_shape`` run as: the smallest batch already used for that
        frame shape that holds them (padding), else ``n``. A new batch size costs seconds once (cuDNN
        autotuning, a new CUDA graph), e.g. a video's last, partial batch; padding costs microseconds."""
        used = self._batch_sizes.setdefault(tuple(frame_shape), set())
        fits = [k for k in used if k >= n]
        if fits:
            return min(fits)
        used.add(n)
        return n

    def upload(self, images: np.ndarray | Sequence[np.ndarray], pad_to: int | None = None):
        """Host uint8 ``[N, H, W, 3]`` array, or N arrays ``[H, W, 3]`` of one shape -> device tensor
        ``[max(N, pad_to), H, W, 3]``, copied once into a reused pinned buffer and uploaded
        non-blocking (CUDA). Rows past N hold stale pixels (their results are to be ignored)."""
        torch = self.torch
        key = (max(len(images), pad_to or 0), *images[0].shape)
        if self.device.type != "cuda":
            host = np.zeros(key, np.uint8)
            host[:len(images)] = np.stack(images) if isinstance(images, list) else images
            return torch.from_numpy(host)
        pinned = self._pinned.get(key)
        if pinned is None:
            pinned = self._pinned[key] = torch.empty(key, dtype=torch.uint8, pin_memory=True)
            self._inputs[key] = torch.empty(key, dtype=torch.uint8, device=self.device)
        # The previous copy out of this buffer finished: every call ends in a synchronising D2H copy.
        host = pinned.numpy()
        if isinstance(images, np.ndarray):
            np.copyto(host[:len(images)], images)
        else:
            for i, image in enumerate(images):
                host[i] = image
        dev = self._inputs[key]
        dev.copy_(pinned, non_blocking=True)
        return dev

    def infer(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = self.info.input_size
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (h, w, 3):
            raise ValueError(f"images: expected uint8 [N, {h}, {w}, 3], found {images.dtype} {list(images.shape)}")
        boxes, scores = self.infer_tensor(self.upload(images))
        return boxes.float().cpu().numpy(), scores.float().cpu().numpy()

    # ---- everything on the device -------------------------------------------------------
    def _frames_to_outputs(self, frames):
        """uint8 BGR ``[N, H, W, 3]`` device frames -> (normalised xyxy boxes [N, A, 4], activated
        scores [N, A, C]) float32; the captured part of :meth:`detect`."""
        from trtssd.postprocess import torch_ops

        x = torch_ops.resize_frames(frames, self.info.input_size, bgr_to_rgb=True)
        enc, raw = self.net_fn(x)
        return (torch_ops.decode_boxes(enc, self.anchors, self.info.box_coder),
                torch_ops.activate_scores(raw, self.info.score_activation))

    def detect(self, frames, timings: dict[str, float] | None = None) -> list[Detections]:
        """BGR uint8 frames (list of ``[H, W, 3]``, an ``[N, H, W, 3]`` array, or on CUDA an
        ``[N, H, W, 3]`` uint8 device tensor) -> detections in each frame's pixels.

        On CUDA every step runs on the device; frames of one size go through in one batch, mixed
        sizes are split by size. ``timings`` gets ``infer`` (the whole device path, one sync).
        """
        if not self.device_path:
            return super().detect(frames, timings)
        clock = StageClock(timings)
        if isinstance(frames, self.torch.Tensor):
            if frames.dtype != self.torch.uint8 or frames.ndim != 4 or frames.shape[3] != 3 or frames.device != self.device:
                raise ValueError(f"frames: expected a uint8 [N, H, W, 3] BGR tensor on {self.device}, "
                                 f"found {frames.dtype} {list(frames.shape)} on {frames.device}")
            dets = self._detect_same_size(frames)
            clock.lap("infer")
            return dets
        frames = check_frames(frames)
        out: list[Detections | None] = [None] * len(frames)
        by_shape: dict[tuple, list[int]] = {}
        for i, f in enumerate(frames):
            by_shape.setdefault(f.shape, []).append(i)
        for shape, idx in by_shape.items():
            batch = [frames[i] for i in idx]
            padded = self.upload(batch, self.batch_size_for(len(batch), shape))
            for i, d in zip(idx, self._detect_same_size(padded, len(batch))):
                out[i] = d
        clock.lap("infer")
        return out  # type: ignore[return-value]

    def _detect_same_size(self, batch, n: int | None = None) -> list[Detections]:
        """uint8 BGR ``[B, H, W, 3]`` device tensor -> detections of its first ``n`` frames (default
        all; the rest is padding), in one device->host copy."""
        from trtssd.postprocess.torch_ops import batched_multiclass_nms

        torch = self.torch
        fh, fw = batch.shape[1:3]
        n = batch.shape[0] if n is None else n
        boxes, scores = self._run("detect", self._frames_to_outputs, batch)
        with torch.inference_mode():
            b, s, c, img = batched_multiclass_nms(boxes, scores, self.nms)
            scale = torch.tensor([fw, fh, fw, fh], dtype=torch.float32, device=b.device)
            packed = torch.cat([b * scale, s[:, None], c[:, None].float(), img[:, None].float()], dim=1).cpu().numpy()
        img_idx = packed[:, 6].astype(np.int64)
        bounds = np.searchsorted(img_idx, np.arange(n + 1))
        labels = self.info.labels
        return [Detections(packed[lo:hi, :4], packed[lo:hi, 4], packed[lo:hi, 5].astype(np.int64), labels)
                for lo, hi in zip(bounds[:-1], bounds[1:])]

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)

    def close(self) -> None:
        self._graphs.clear()
        self._pinned.clear()
        self._inputs.clear()
        self._batch_sizes.clear()
