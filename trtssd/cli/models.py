"""``trtssd models``: list registered models and whether their files are present."""

from __future__ import annotations

import argparse

from trtssd.models.resolve import model_dirs
from trtssd.models.zoo import MODELS


def register(sub) -> None:
    p = sub.add_parser("models", help="list registered models and their availability")
    p.add_argument("--model_dir", default=None, help="extra directory searched for model files")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    dirs = model_dirs(args.model_dir)
    w = max(len("name"), *(len(name) for name in MODELS))  # the column fits the longest name
    print(f"{'name':{w}s}  {'status':8s}  {'kind':15s}  description")
    for spec in MODELS.values():
        found = next((d / spec.source.filename for d in dirs if (d / spec.source.filename).exists()), None)
        status = "present" if found else ("download" if spec.source.url else "absent")
        print(f"{spec.name:{w}s}  {status:8s}  {spec.source.kind:15s}  {spec.description}")
        if found:
            print(f"{'':{w}s}  {found}")
    print("\nsearched: " + ", ".join(str(d) for d in dirs))
    print("status: present = file found; download = fetched from its official URL on first use; absent = place the file yourself")
    return 0
