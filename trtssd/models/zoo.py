"""Registered models. TD names follow jkjung-avt/tensorrt_demos (ssd/build_engine.py); URLs are
the official TF Object Detection API / TF Lite download locations."""

from __future__ import annotations

import difflib

from trtssd.errors import ModelNotFoundError
from trtssd.models.labels import COCO_90, EGOHANDS
from trtssd.models.spec import GridAnchorSpec, ModelSource, ModelSpec, MultiscaleAnchorSpec, PostprocessSpec

_TF1_ZOO = "http://download.tensorflow.org/models/object_detection"
_EGOHANDS_NOTE = (
    "train and export it with jkjung-avt/hand-detection-tutorial (the frozen_inference_graph.pb "
    "of the SSD egohands config), as the original tensorrt_demos did"
)


def _tf1(name: str, archive: str, description: str, labels=COCO_90, anchors=GridAnchorSpec(), note: str = "") -> ModelSpec:
    url = f"{_TF1_ZOO}/{archive}.tar.gz" if archive else None
    return ModelSpec(
        name=name,
        description=description,
        source=ModelSource(
            filename=f"{name}.pb",
            kind="tf1_frozen",
            url=url,
            sha256=None,  # upstream publishes no checksum; the downloader prints the digest it saw
            archive_member=f"{archive}/frozen_inference_graph.pb" if archive else None,
            note=note,
        ),
        labels=labels,
        anchors=anchors,
    )


def _tf2(name: str, archive: str, description: str, input_size: tuple[int, int],
         multiscale: MultiscaleAnchorSpec | None = None) -> ModelSpec:
    """A TF2 detection zoo SavedModel (pipeline.config values from the official configs/tf2)."""
    return ModelSpec(
        name=name,
        description=description,
        source=ModelSource(
            filename=archive,  # a directory: <model dir>/<archive>/saved_model/saved_model.pb
            kind="tf2_saved_model",
            url=f"{_TF1_ZOO}/tf2/20200711/{archive}.tar.gz",
            sha256=None,  # upstream publishes no checksum
            archive_member=f"{archive}/saved_model",
        ),
        labels=COCO_90,
        input_size=input_size,
        multiscale_anchors=multiscale,
    )


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="ssd_mobilenet_v1_coco_quant",
            description="TF Lite coco_ssd_mobilenet_v1_1.0_quant_2018_06_29 (QAT uint8, 300x300, COCO)",
            source=ModelSource(
                filename="coco_ssd_mobilenet_v1_1.0_quant_detect.tflite",
                kind="tflite",
                url="https://storage.googleapis.com/download.tensorflow.org/models/tflite/"
                "coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.zip",
                sha256="e4b118e5e4531945de2e659742c7c590f7536f8d0ed26d135abcfe83b4779d13",
                archive_member="detect.tflite",
            ),
            labels=COCO_90,
            # The TFLite export applies the sigmoid before TFLite_Detection_PostProcess.
            postprocess=PostprocessSpec(score_activation="none"),
        ),
        _tf1("ssd_mobilenet_v1_coco", "ssd_mobilenet_v1_coco_2018_01_28", "TF1 zoo SSD MobileNet v1 (300x300, COCO)"),
        _tf1("ssd_mobilenet_v2_coco", "ssd_mobilenet_v2_coco_2018_03_29", "TF1 zoo SSD MobileNet v2 (300x300, COCO)"),
        _tf1("ssdlite_mobilenet_v2_coco", "ssdlite_mobilenet_v2_coco_2018_05_09", "TF1 zoo SSDLite MobileNet v2 (300x300, COCO)"),
        _tf1("ssd_inception_v2_coco", "ssd_inception_v2_coco_2018_01_28", "TF1 zoo SSD Inception v2 (300x300, COCO)"),
        _tf1(
            "ssd_mobilenet_v1_egohands", "", "SSD MobileNet v1 trained on EgoHands (hand detector)",
            labels=EGOHANDS, anchors=GridAnchorSpec(min_scale=0.05), note=_EGOHANDS_NOTE,
        ),
        # TF2 zoo: the "320x320" SSD MobileNet v2 config resizes to 300x300 (fixed_shape_resizer).
        _tf2("ssd_mobilenet_v2_320x320_coco17", "ssd_mobilenet_v2_320x320_coco17_tpu-8",
             "TF2 zoo SSD MobileNet v2 320x320 (SavedModel; 300x300 input, COCO)", (300, 300)),
        _tf2("ssd_mobilenet_v2_fpnlite_320x320_coco17", "ssd_mobilenet_v2_fpnlite_320x320_coco17_tpu-8",
             "TF2 zoo SSD MobileNet v2 FPNLite 320x320 (SavedModel, COCO)", (320, 320), MultiscaleAnchorSpec()),
        _tf2("ssd_mobilenet_v2_fpnlite_640x640_coco17", "ssd_mobilenet_v2_fpnlite_640x640_coco17_tpu-8",
             "TF2 zoo SSD MobileNet v2 FPNLite 640x640 (SavedModel, COCO)", (640, 640), MultiscaleAnchorSpec()),
        _tf1(
            "ssd_mobilenet_v2_egohands", "", "SSD MobileNet v2 trained on EgoHands (hand detector)",
            labels=EGOHANDS, anchors=GridAnchorSpec(min_scale=0.05), note=_EGOHANDS_NOTE,
        ),
    )
}


def get_spec(name: str) -> ModelSpec:
    """Registered spec by name; unknown names raise with the closest known names."""
    try:
        return MODELS[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(MODELS), n=3, cutoff=0.5)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ModelNotFoundError(
            f"unknown model '{name}'{hint}: expected one of {', '.join(MODELS)}, "
            "or a path to a .tflite / .onnx model file"
        ) from None
