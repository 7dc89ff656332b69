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
    p.add_argument("--input_size", default=None, metavar="HxW",
                   help="TF graphs without a constant-size resize op: the network's input size, e.g. 300x300")
    p.add_argument("--anchors", default=None, metavar="SPEC",
                   help="raw-output TFLite SSDs (no anchors in the file): SSD anchor spec, e.g. "
                        "'min_scale=0.2,max_scale=0.95,aspect_ratios=1:2:0.5:3:0.3333,feature_maps=19:10:5:3:2:1' "
                        "(default: these OD API ssd_anchor_generator values)")
    p.set_defaults(func=run)


def _input_size(text: str) -> tuple[int, int]:
    h, sep, w = text.lower().partition("x")
    if not sep or not h.isdigit() or not w.isdigit() or int(h) <= 0 or int(w) <= 0:
        raise ValueError(f"--input_size: expected HxW in pixels (e.g. 300x300), found '{text}'")
    return int(h), int(w)


def run(args: argparse.Namespace) -> int:
    overrides = None
    if args.input_node or args.box_node or args.class_node or args.input_size or args.anchors:
        from trtssd.conversion.tfgraph import NodeOverrides
        from trtssd.conversion.tflite_raw import parse_anchor_spec
        from trtssd.errors import InputError

        try:
            overrides = NodeOverrides(args.input_node, args.box_node, args.class_node,
                                      input_size=_input_size(args.input_size) if args.input_size else None,
                                      anchors=parse_anchor_spec(args.anchors) if args.anchors else None)
        except ValueError as exc:
            raise InputError(str(exc)) from None
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
