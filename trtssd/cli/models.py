"""``trtssd models``: list registered models, their sources and whether their files are present;
``--fetch NAME ...`` fetches registered models into the cache (what ``make test`` does first)."""

from __future__ import annotations

import argparse

from trtssd.cli.common import auto_backend
from trtssd.models.fetch import describe
from trtssd.models.resolve import find_registered, model_dirs, resolve_model
from trtssd.models.zoo import MODELS, get_spec


def register(sub) -> None:
    p = sub.add_parser("models", help="list registered models, their sources and availability")
    p.add_argument("--model_dir", default=None, help="extra directory searched for model files")
    p.add_argument("--fetch", nargs="+", metavar="NAME", default=None,
                   help="fetch these registered models (if absent) and print where they are")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.fetch:
        specs = [get_spec(name) for name in args.fetch]  # unknown names fail before any fetch
        for spec in specs:
            resolved = resolve_model(spec.name, args.model_dir)
            print(f"{spec.name}: {resolved.path}")
        return 0
    dirs = model_dirs(args.model_dir)
    w = max(len("name"), *(len(name) for name in MODELS))  # the column fits the longest name
    print(f"{'name':{w}s}  {'status':8s}  {'kind':15s}  description")
    for spec in MODELS.values():
        found = find_registered(spec, dirs)
        status = "present" if found else ("fetch" if any(s.fetchable for s in spec.sources) else "absent")
        print(f"{spec.name:{w}s}  {status:8s}  {(found.kind if found else spec.source.kind):15s}  {spec.description}")
        first = next((s for s in spec.sources if found and found.path.name == s.filename), None)
        for i, src in enumerate(spec.sources, 1):
            print(f"{'':{w}s}  {'*' if src is first else ' '}{i}. {describe(src)}")
        if found:
            print(f"{'':{w}s}     -> {found.path}")
    print("\nsearched: " + ", ".join(str(d) for d in dirs))
    print("status: present = file found (* marks its source); fetch = fetched on first use from its sources, "
          "in order; absent = place the file yourself")
    print(f"backend: --backend auto (the default) picks {auto_backend()} here "
          "(order: tensorrt, torch on a CUDA GPU, openvino on an x86 CPU, onnxruntime)")
    return 0
