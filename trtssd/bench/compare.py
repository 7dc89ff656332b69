"""trtssd's detect step side by side with the TFLite interpreter on the same images.

Each runtime lives in its own process (spawned, so neither shares an allocator, thread pool or
GIL with the other) and is warmed up on every image first. Then rounds alternate, at image
granularity: in each round every image is run by one runtime and right after by the other (the
other waiting meanwhile), the order swapping every round, so slow phases of a shared machine hit
both alike. Per image, the time of the whole step is taken: BGR frame
in -> resize -> network -> decode + NMS -> boxes in pixels. The TFLite interpreter
(``ai-edge-litert``, XNNPACK) runs the original model with its own postprocess op.

Reported per runtime: the median over images of each image's median time over the rounds; the
ratio trtssd / TFLite from those, and per round (from each round's median). Also "best": the
median over images of each image's fastest round, the steadier figure where other work shares
the machine.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from trtssd.errors import BackendError, InputError


@dataclass(frozen=True)
class RuntimeSpec:
    """What a worker process builds: ``kind`` ``trtssd`` (a Detector) or ``tflite`` (an interpreter)."""

    kind: str
    model: str
    threads: int
    conf_th: float
    backend: str = "auto"
    model_dir: str | None = None
    precision: str | None = None  # openvino: int8 / fp32 (default: int8 where available)


@dataclass
class RuntimeResult:
    label: str
    times_ms: list[list[float]] = field(default_factory=list)  # [round][image]
    stages_ms: list[dict[str, float]] = field(default_factory=list)  # [round] stage -> median ms per image

    @property
    def per_image_ms(self) -> np.ndarray:
        """Each image's median over the rounds."""
        return np.median(np.asarray(self.times_ms), axis=0)

    @property
    def median_ms(self) -> float:
        return float(np.median(self.per_image_ms))

    @property
    def best_ms(self) -> float:
        """Median over images of each image's fastest round: the least disturbed figure on a
        machine shared with other work."""
        return float(np.median(np.min(np.asarray(self.times_ms), axis=0)))

    def round_medians(self) -> list[float]:
        return [float(np.median(r)) for r in self.times_ms]

    def stage_medians(self) -> dict[str, float]:
        """Per stage (trtssd only): the median over rounds of the round's median ms per image."""
        names = self.stages_ms[0] if self.stages_ms else {}
        return {k: float(np.median([r[k] for r in self.stages_ms])) for k in names}


@dataclass(frozen=True)
class Comparison:
    images: int
    rounds: int
    threads: int
    trtssd: RuntimeResult
    tflite: RuntimeResult

    @property
    def ratio(self) -> float:
        """trtssd / TFLite median ms per image (< 1: trtssd is faster)."""
        return self.trtssd.median_ms / self.tflite.median_ms

    @property
    def best_ratio(self) -> float:
        """The same ratio from :attr:`RuntimeResult.best_ms`."""
        return self.trtssd.best_ms / self.tflite.best_ms

    def round_ratios(self) -> list[float]:
        return [a / b for a, b in zip(self.trtssd.round_medians(), self.tflite.round_medians())]

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k not in ("trtssd", "tflite")}
        for name in ("trtssd", "tflite"):
            r: RuntimeResult = getattr(self, name)
            d[name] = {"label": r.label, "median_ms": r.median_ms, "best_ms": r.best_ms, "round_medians_ms": r.round_medians(),
                       "stage_medians_ms": r.stage_medians(), "times_ms": r.times_ms}
        d.update(ratio=self.ratio, best_ratio=self.best_ratio, round_ratios=self.round_ratios())
        return d

    def table(self) -> str:
        rows = [(self.trtssd.label, self.trtssd), (self.tflite.label, self.tflite)]
        width = max(len(label) for label, _ in rows)
        lines = [f"{'runtime':<{width}}  {'ms/image':>8}  {'p10':>6}  {'p90':>6}  {'best':>6}"]
        for label, r in rows:
            p = r.per_image_ms
            lines.append(f"{label:<{width}}  {r.median_ms:>8.2f}  {np.percentile(p, 10):>6.2f}  "
                         f"{np.percentile(p, 90):>6.2f}  {r.best_ms:>6.2f}")
        stages = self.trtssd.stage_medians()
        if stages:
            lines.append("trtssd stages, median ms/image: " + ", ".join(f"{k} {v:.3f}" for k, v in stages.items()))
        per_round = ", ".join(f"{x:.2f}" for x in self.round_ratios())
        lines.append(f"trtssd / TFLite: {self.ratio:.2f} ({1 / self.ratio:.2f}x the interpreter's speed); "
                     f"per round: {per_round}")
        lines.append(f"best (each image's fastest round, median over images): trtssd / TFLite {self.best_ratio:.2f}")
        lines.append(f"{self.images} images, {self.rounds} alternating rounds, {self.threads} threads each; "
                     "ms/image = median over images of each image's median over rounds")
        return "\n".join(lines)


def _tflite_step(spec: RuntimeSpec):
    """The interpreter's whole step: BGR frame -> (xyxy pixels, scores, class ids) above conf_th."""
    import cv2

    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise BackendError(f"--compare tflite needs ai-edge-litert: pip install ai-edge-litert ({exc})") from None
    interp = Interpreter(model_path=spec.model, num_threads=spec.threads)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    if inp["dtype"] != np.uint8:
        raise InputError(f"TFLite model {spec.model}: expected a uint8 input, found {np.dtype(inp['dtype']).name}")
    h, w = int(inp["shape"][1]), int(inp["shape"][2])
    outs = [d["index"] for d in interp.get_output_details()]

    def step(frame):
        fh, fw = frame.shape[:2]
        rgb = cv2.cvtColor(cv2.resize(frame, (w, h), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
        interp.set_tensor(inp["index"], rgb[None])
        interp.invoke()
        boxes, classes, scores, num = (interp.get_tensor(i) for i in outs)
        n = int(num[0])
        keep = scores[0, :n] > spec.conf_th
        yxyx = np.clip(boxes[0, :n][keep], 0, 1)
        return yxyx[:, [1, 0, 3, 2]] * np.array([fw, fh, fw, fh], np.float32), scores[0, :n][keep], classes[0, :n][keep]

    return step, f"TFLite interpreter ({Path(spec.model).name})", None


def _trtssd_step(spec: RuntimeSpec):
    from trtssd.backends.base import resolve_backend_name
    from trtssd.detector import Detector

    name = resolve_backend_name(spec.backend)
    options = {"intra_op_threads": spec.threads} if name in ("onnxruntime", "onnxruntime-nms", "openvino") else {}
    if name == "openvino" and spec.precision:
        options["precision"] = spec.precision
    det = Detector(spec.model, name, conf_th=spec.conf_th, model_dir=spec.model_dir, backend_options=options)
    precision = getattr(det.backend, "precision", "fp32")
    stages: dict[str, list[float]] = {}

    def step(frame):
        timings: dict[str, float] = {}
        dets = det.detect_batch([frame], timings)[0]
        for k, v in timings.items():
            stages.setdefault(k, []).append(v * 1000.0)
        return dets

    return step, f"trtssd detect ({det.backend.name} {precision})", stages


def _worker(conn, spec: RuntimeSpec, image_paths: Sequence[str]) -> None:
    """Build the runtime, warm it up on every image, then time image ``k`` per message ``k`` (until "stop")."""
    try:
        import cv2

        frames = [cv2.imread(p) for p in image_paths]
        step, label, stages = _tflite_step(spec) if spec.kind == "tflite" else _trtssd_step(spec)
        for f in frames:
            step(f)
        conn.send(("ready", label))
        while (msg := conn.recv()) != "stop":
            if stages is not None:
                stages.clear()
            t0 = time.perf_counter()
            step(frames[msg])
            ms = (time.perf_counter() - t0) * 1000.0
            conn.send(("time", (ms, {k: v[-1] for k, v in (stages or {}).items()})))
    except Exception as exc:  # reported by the parent as one line
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def list_images(images: str, max_images: int) -> list[Path]:
    """A directory (its .jpg/.jpeg/.png files, sorted) or a glob -> the first ``max_images`` paths."""
    import glob

    p = Path(images)
    paths = sorted(q for q in p.iterdir() if q.suffix.lower() in (".jpg", ".jpeg", ".png")) if p.is_dir() \
        else sorted(Path(q) for q in glob.glob(images))
    if not paths:
        raise InputError(f"--images {images}: expected a directory or glob of .jpg/.png images, found none")
    import cv2

    bad = [q for q in paths[:max_images] if cv2.imread(str(q)) is None]
    if bad:
        raise InputError(f"image '{bad[0]}': expected a readable image, found undecodable data")
    return paths[:max_images]


def compare(trtssd: RuntimeSpec, tflite: RuntimeSpec, images: Sequence[Path], rounds: int,
            start_timeout_s: float = 600.0) -> Comparison:
    """Run both runtimes in their own processes, alternating rounds (see module docstring)."""
    ctx = mp.get_context("spawn")
    workers = []
    try:
        results = []
        for spec in (trtssd, tflite):  # one after the other: loading does not overlap either
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(child, spec, [str(p) for p in images]), daemon=True)
            proc.start()
            child.close()
            workers.append((proc, parent))
            kind, value = _receive(parent, proc, start_timeout_s)
            results.append(RuntimeResult(value))
        for r in range(rounds):
            order = (0, 1) if r % 2 == 0 else (1, 0)
            times: list[list[float]] = [[], []]
            stages: list[dict[str, list[float]]] = [{}, {}]
            for k in range(len(images)):
                for i in order:
                    proc, conn = workers[i]
                    conn.send(k)
                    ms, st = _receive(conn, proc, start_timeout_s)[1]
                    times[i].append(ms)
                    for name, v in st.items():
                        stages[i].setdefault(name, []).append(v)
            for i in (0, 1):
                results[i].times_ms.append(times[i])
                if stages[i]:
                    results[i].stages_ms.append({k: float(np.median(v)) for k, v in stages[i].items()})
        return Comparison(len(images), rounds, trtssd.threads, results[0], results[1])
    finally:
        for proc, conn in workers:
            try:
                conn.send("stop")
            except OSError:
                pass
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join()


def _receive(conn, proc, timeout_s: float):
    if not conn.poll(timeout_s):
        raise BackendError(f"bench --compare: expected a reply from the worker within {timeout_s:.0f} s, found none")
    try:
        kind, value = conn.recv()
    except EOFError:
        raise BackendError(f"bench --compare: worker process exited (code {proc.exitcode}) without a result") from None
    if kind == "error":
        raise BackendError(f"bench --compare: {value}")
    return kind, value
