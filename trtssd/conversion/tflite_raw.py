"""Raw-output TFLite SSDs: TF OD API SSDs exported to TFLite without ``TFLite_Detection_PostProcess``
(e.g. MediaPipe's ``object_detection_ssd_mobilenetv2_oidv4_fp16.tflite``), whose outputs are the
raw box encodings ``[1, A, 4]`` and class logits ``[1, A, C]`` (``raw_outputs/box_encodings``,
``raw_outputs/class_predictions``). The file holds no anchors: they come from an SSD anchor spec
(:class:`~trtssd.models.spec.GridAnchorSpec`; its defaults are the OD API ``ssd_anchor_generator``
defaults for 300x300: 6 layers, min scale 0.2, max 0.95, aspect ratios 1, 2, 0.5, 3, 1/3, reduced
boxes on the first layer), and the box coder is the OD API default (10, 10, 5, 5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trtssd.errors import ModelFormatError
from trtssd.models.spec import GridAnchorSpec


def _outputs(sub, types: dict) -> list[tuple[str, tuple[int, ...], type]]:
    outs = []
    for i in sub.OutputsAsNumpy():
        t = sub.Tensors(int(i))
        outs.append((t.Name().decode(), tuple(int(d) for d in t.ShapeAsNumpy()), types.get(t.Type(), None)))
    return outs


def raw_output_info(sub, path: Path, anchors: GridAnchorSpec | None, types: dict):
    """A :class:`~trtssd.conversion.tflite.TfliteSsdInfo` for a raw-output SSD subgraph, or None
    when the outputs are not one ``[1, A, 4]`` and one ``[1, A, C]`` float tensor."""
    from trtssd.conversion.tfgraph import od_api_anchors
    from trtssd.conversion.tflite import TfliteSsdInfo

    outs = [o for o in _outputs(sub, types) if o[2] == np.float32 and len(o[1]) == 3 and o[1][0] == 1]
    boxes = [o for o in outs if o[1][2] == 4]
    for box in sorted(boxes, key=lambda o: "box" not in o[0]):
        scores = [o for o in outs if o is not box and o[1][1] == box[1][1] and o[1][2] >= 2]
        if scores:
            break
    else:
        return None
    score = min(scores, key=lambda o: "class" not in o[0])
    inp = sub.Tensors(int(sub.InputsAsNumpy()[0]))
    shape = tuple(int(d) for d in inp.ShapeAsNumpy())
    if len(shape) != 4 or shape[3] != 3:
        raise ModelFormatError(f"{path}: expected an image input [1, H, W, 3], found {list(shape)}")
    spec = anchors or GridAnchorSpec()
    generated = od_api_anchors(spec, shape[1:3])
    if generated.shape[0] != box[1][1]:
        raise ModelFormatError(
            f"{path}: raw outputs have {box[1][1]} anchors, the SSD anchor spec generates {generated.shape[0]} "
            f"(feature maps {[f'{h}x{w}' for h, w in spec.feature_map_sizes]}); pass the model's anchor spec")
    return TfliteSsdInfo(
        input_name=inp.Name().decode(),
        input_shape=shape,
        input_dtype=types.get(inp.Type(), np.float32),
        box_tensor=box[0],
        score_tensor=score[0],
        anchors_cyxhw=generated,
        options={"num_classes": score[1][2] - 1, "anchors": "spec"},
    )


def parse_anchor_spec(text: str) -> GridAnchorSpec:
    """``min_scale=0.2,max_scale=0.95,aspect_ratios=1:2:0.5:3:0.3333,feature_maps=19:10:5:3:2:1,
    reduce_lowest=1`` (any subset; the rest keep the :class:`GridAnchorSpec` defaults) -> spec."""
    from dataclasses import replace

    spec = GridAnchorSpec()
    keys = {"min_scale", "max_scale", "aspect_ratios", "feature_maps", "reduce_lowest"}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or key not in keys:
            raise ValueError(f"anchor spec: expected KEY=VALUE with KEY in {sorted(keys)}, found '{part}'")
        try:
            if key in ("min_scale", "max_scale"):
                spec = replace(spec, **{key: float(value)})
            elif key == "aspect_ratios":
                spec = replace(spec, aspect_ratios=tuple(float(v) for v in value.split(":")))
            elif key == "feature_maps":
                spec = replace(spec, feature_map_sizes=tuple((int(v), int(v)) for v in value.split(":")))
            else:
                spec = replace(spec, reduce_boxes_in_lowest_layer=value.lower() in ("1", "true", "yes"))
        except ValueError:
            raise ValueError(f"anchor spec: expected numbers separated by ':' for {key}, found '{value}'") from None
    return spec
