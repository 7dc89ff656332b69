"""``trtssd convert``: convert a model to the trtssd ONNX artifact (cached) and print its path."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from trtssd.conversion.api import ensure_artifact


# What the artifact's ``score_activation`` means, for people.
SCORE_ACTIVATION_TEXT = {
    "none": "class scores already probabilities in the graph (no activation added)",
    "sigmoid": "class scores are logits (sigmoid applied after the network)",
    "softmax": "class scores are logits (softmax applied after the network)",
}


def register(sub) -> None:
    p = sub.add_parser("convert", help="convert a model to the self-describing ONNX artifact")
    p.add_argument("model", help="registered model name or path to a model file")
    p.add_argument("--model_dir", default=None, help="extra directory searched for model files")
    p.add_argument("-o", "--output", default=None, help="also copy the artifact to this path")
    p.add_argument("--force", action="store_true", help="reconvert even when a cached artifact exists")
    p.add_argument("--input_node", default=None,
                   help="TF graphs: tensor holding the resized image [N,H,W,3] (everything before it is dropped)")
    p.add_argument("--box_node", default=None, help="TF graphs: raw box-encodings tensor (default: concat)")
    p.add_argument("--class_node", default=None, help="TF graphs: raw class-scores tensor (default: concat_1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    overrides = None
    if args.input_node or args.box_node or args.class_node:
        from trtssd.conversion.tfgraph import NodeOverrides

        overrides = NodeOverrides(args.input_node, args.box_node, args.class_node)
    path, info = ensure_artifact(args.model, args.model_dir, force=args.force, overrides=overrides)
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, out)
        path = out
    print(f"{path}")
    print(f"  model {info.model_name}, input {info.input_size[0]}x{info.input_size[1]} uint8 RGB, "
          f"{info.num_anchors} anchors, {info.num_classes} classes (incl. background), "
          f"{SCORE_ACTIVATION_TEXT.get(info.score_activation, info.score_activation)}")
    return 0
