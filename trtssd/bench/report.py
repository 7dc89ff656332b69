"""Bench report: a text table, a JSON file and (when matplotlib is installed) a PNG plot."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

from trtssd.bench.e2e import E2EResult
from trtssd.bench.network import NetworkPoint


def environment(backend) -> dict:
    """Versions and device of the run (for the JSON report)."""
    env = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
           "backend": getattr(backend, "name", "?")}
    try:
        import onnxruntime

        env["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    dev = getattr(backend, "device", None)
    if getattr(dev, "type", "") == "cuda":
        import torch

        env.update(torch=torch.__version__, cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                   gpu=torch.cuda.get_device_name(dev))
    elif getattr(backend, "name", "") == "torch":
        import torch

        env.update(torch=torch.__version__, device="cpu")
    else:
        env["device"] = platform.processor() or "cpu"
    return env


def format_table(network: list[NetworkPoint], e2e: list[E2EResult]) -> str:
    lines = []
    if network:
        lines.append(f"{'batch':>6} {'median ms':>10} {'p10 ms':>9} {'p90 ms':>9} {'img/s':>10} {'iters':>6}  timer")
        for p in network:
            lines.append(f"{p.batch:>6} {p.median_ms:>10.3f} {p.p10_ms:>9.3f} {p.p90_ms:>9.3f} "
                         f"{p.images_per_s:>10.1f} {p.iters:>6}  {p.timer}")
    if e2e:
        if lines:
            lines.append("")
        lines.append(f"{'video':<34} {'mode':<6} {'batch':>5} {'frames':>7} {'seconds':>8} {'FPS':>8} {'dets':>7}")
        for r in e2e:
            lines.append(f"{Path(r.video).name[:34]:<34} {r.mode:<6} {r.batch:>5} {r.frames:>7} {r.seconds:>8.3f} "
                         f"{r.fps:>8.1f} {r.detections:>7}")
    return "\n".join(lines)


def write_json(path: Path, meta: dict, network: list[NetworkPoint], e2e: list[E2EResult]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {**meta, "network": [p.to_dict() for p in network], "end_to_end": [r.to_dict() for r in e2e]}
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(doc, indent=2))
    os.replace(tmp, path)
    return path


def write_plot(path: Path, title: str, network: list[NetworkPoint], e2e: list[E2EResult]) -> Path | None:
    """Throughput and latency vs batch (and end-to-end FPS bars); None when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import NullFormatter
    except ImportError:
        return None
    ncols = max((2 if network else 0) + (1 if e2e else 0), 1)
    height = max(4.0, 0.22 * len(e2e) + 1.5)
    fig, axes = plt.subplots(1, ncols, figsize=(5 * ncols + (1.5 if e2e else 0), height), squeeze=False)
    axes = list(axes[0])
    if network:
        b = [p.batch for p in network]
        ax = axes.pop(0)
        ax.plot(b, [p.images_per_s for p in network], "o-")
        ax.set(xscale="log", xlabel="batch", ylabel="images / s", title="network throughput")
        ax.set_xticks(b, [str(x) for x in b])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(alpha=0.3)
        ax = axes.pop(0)
        ax.plot(b, [p.median_ms for p in network], "o-")
        ax.set(xscale="log", yscale="log", xlabel="batch", ylabel="median ms / call", title="network latency")
        ax.set_xticks(b, [str(x) for x in b])
        ax.xaxis.set_minor_formatter(NullFormatter())
        _plain_log_labels(ax.yaxis)
        ax.grid(alpha=0.3)
    if e2e and axes:
        ax = axes.pop(0)
        names = [f"{Path(r.video).stem[:18]} {r.mode} b{r.batch}" for r in e2e]
        ax.barh(range(len(e2e)), [r.fps for r in e2e])
        ax.set_yticks(range(len(e2e)), names, fontsize=7)
        ax.invert_yaxis()
        ax.set(xlabel="frames / s", title="end to end (decode -> detect -> JSON)")
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _plain_log_labels(axis) -> None:
    """Label a log axis with plain numbers (0.2, 0.5, 2, 10) instead of ``2x10^0``-style ticks."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    axis.set_minor_formatter(FuncFormatter(lambda v, _pos: ""))
