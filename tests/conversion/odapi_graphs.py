"""Tiny TensorFlow graphs with the structure and node names of TF Object Detection API SSD exports
(for the TF1 / TF2 converter tests; the zoo models themselves cannot be downloaded here).

Structure (as exported by object_detection/exporter.py and exporter_lib_v2.py):
``image_tensor`` uint8 -> ``ToFloat`` -> ``Preprocessor/map`` (per-image ``ResizeImage`` bilinear,
align_corners=False) -> ``Preprocessor/mul``/``sub`` ((2/255) x - 1; with ``normalize_first``, as
newer OD API SSDs do, the normalisation comes before the resize) -> ``FeatureExtractor/...``
strided convs -> ``BoxPredictor_i/{BoxEncodingPredictor,ClassPredictor}`` 1x1 convs -> reshapes ->
``concat`` [N, A, 1, 4] / ``concat_1`` [N, A, C]; ``MultipleGridAnchorGenerator`` +
``Concatenate/concat`` anchors (corners); ``Postprocessor/Decode`` (FasterRcnnBoxCoder, scales
10/10/5/5), ``convert_scores`` sigmoid, background slice, ``BatchMultiClassNonMaxSuppression``;
outputs ``detection_boxes/scores/classes`` (class ids + 1) and ``num_detections``.

The anchor generator here is written independently of :mod:`trtssd.postprocess.priors`, from the
OD API's ``create_ssd_anchors`` / ``MultipleGridAnchorGenerator._generate`` / ``tile_anchors``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from trtssd.models.spec import GridAnchorSpec
from trtssd.postprocess.boxes import box_iou

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf  # noqa: E402

tf1 = tf.compat.v1
NMS_IOU = 0.6
MAX_DET = 100


@dataclass(frozen=True)
class TinySsd:
    """A tiny OD API-shaped SSD: ``input_size`` (h, w), ``num_classes`` incl. background."""

    input_size: tuple[int, int] = (64, 64)
    num_classes: int = 91
    min_scale: float = 0.2
    max_scale: float = 0.95
    aspect_ratios: tuple[float, ...] = (1.0, 2.0, 0.5, 3.0, 0.3333)
    num_layers: int = 4
    seed: int = 0
    normalize_first: bool = False  # newer OD API SSDs (TF2 exports): (2/255) x - 1, then resize

    @property
    def feature_map_sizes(self) -> tuple[tuple[int, int], ...]:
        """Feature maps at strides 8, 16, ... (SAME-padded stride-2 convs 2, 3, ...)."""
        h, w = self.input_size
        sizes = []
        for i in range(2 + self.num_layers):
            h, w = math.ceil(h / 2), math.ceil(w / 2)
            if i >= 2:
                sizes.append((h, w))
        return tuple(sizes)


def ssd_box_specs(min_scale, max_scale, aspect_ratios, num_layers):
    """OD API ``create_ssd_anchors`` box specs (reduce_boxes_in_lowest_layer, interpolated ar 1)."""
    scales = [min_scale + (max_scale - min_scale) * i / (num_layers - 1) for i in range(num_layers)] + [1.0]
    specs = []
    for layer, scale, scale_next in zip(range(num_layers), scales[:-1], scales[1:]):
        if layer == 0:
            specs.append([(0.1, 1.0), (scale, 2.0), (scale, 0.5)])
        else:
            specs.append([(scale, ar) for ar in aspect_ratios] + [(math.sqrt(scale * scale_next), 1.0)])
    return specs


def multiple_grid_anchors(feature_map_sizes, box_specs, im_height, im_width):
    """TF ops: anchor corners [A, 4] (ymin, xmin, ymax, xmax), named as in the OD API graph."""
    with tf1.name_scope("MultipleGridAnchorGenerator"):
        ih, iw = tf.cast(im_height, tf.float32), tf.cast(im_width, tf.float32)
        min_im = tf.minimum(ih, iw)
        base_h, base_w = min_im / ih * 1.0, min_im / iw * 1.0
        grids = []
        for (gh, gw), specs in zip(feature_map_sizes, box_specs):
            scales = tf.constant([s for s, _ in specs], tf.float32)
            ratio_sqrts = tf.sqrt(tf.constant([a for _, a in specs], tf.float32))
            heights = scales / ratio_sqrts * base_h
            widths = scales * ratio_sqrts * base_w
            stride_y, stride_x = 1.0 / tf.cast(gh, tf.float32), 1.0 / tf.cast(gw, tf.float32)
            yc = tf.cast(tf.range(gh), tf.float32) * stride_y + 0.5 * stride_y
            xc = tf.cast(tf.range(gw), tf.float32) * stride_x + 0.5 * stride_x
            k = len(specs)
            yc = tf.broadcast_to(yc[:, None, None], [gh, gw, k])
            xc = tf.broadcast_to(xc[None, :, None], [gh, gw, k])
            hh = tf.broadcast_to(heights[None, None, :], [gh, gw, k])
            ww = tf.broadcast_to(widths[None, None, :], [gh, gw, k])
            corners = tf.stack([yc - 0.5 * hh, xc - 0.5 * ww, yc + 0.5 * hh, xc + 0.5 * ww], axis=-1)
            grids.append(tf.reshape(corners, [-1, 4]))
    with tf1.name_scope("Concatenate"):
        return tf.concat(grids, axis=0)


def make_weights(cfg: TinySsd) -> dict[str, np.ndarray]:
    """Small random weights (np.random.default_rng(cfg.seed)); class biases set so that a few
    anchors score high and most low."""
    rng = np.random.default_rng(cfg.seed)
    chans = [3, 8, 12, 16, 16, 16, 16, 16, 16][: 3 + cfg.num_layers]
    w = {}
    for i in range(2 + cfg.num_layers):
        w[f"fe{i}"] = rng.normal(0, 1.0 / math.sqrt(9 * chans[i]), (3, 3, chans[i], chans[i + 1])).astype(np.float32)
    specs = ssd_box_specs(cfg.min_scale, cfg.max_scale, cfg.aspect_ratios, cfg.num_layers)
    for i, s in enumerate(specs):
        c = chans[3 + i]  # output channels of conv 2 + i
        k = len(s)
        w[f"box{i}"] = rng.normal(0, 0.5 / math.sqrt(c), (1, 1, c, k * 4)).astype(np.float32)
        w[f"boxb{i}"] = rng.normal(0, 0.3, k * 4).astype(np.float32)
        w[f"cls{i}"] = rng.normal(0, 4.0 / math.sqrt(c), (1, 1, c, k * cfg.num_classes)).astype(np.float32)
        bias = np.full(k * cfg.num_classes, -8.0, np.float32)
        hot = rng.choice(bias.size, size=max(1, bias.size // 60), replace=False)  # a few firing channels
        bias[hot] = rng.normal(-1.5, 0.5, hot.size)
        w[f"clsb{i}"] = bias
    return w


def ssd_graph(image_tensor, cfg: TinySsd, w: dict) -> dict:
    """Build the OD API-shaped SSD on ``image_tensor`` (uint8 [N, ?, ?, 3]); ``w`` maps weight
    names (see :func:`make_weights`) to tensors or variables. Returns the detection outputs."""
    h, w_ = cfg.input_size
    specs = ssd_box_specs(cfg.min_scale, cfg.max_scale, cfg.aspect_ratios, cfg.num_layers)
    x = tf.cast(image_tensor, tf.float32, name="ToFloat")
    with tf1.name_scope("Preprocessor"):
        def resize(im):
            with tf1.name_scope("ResizeImage"):
                return tf1.image.resize_images(im, tf.constant([h, w_], name="size"), align_corners=False)

        def resize_all(images):  # shape_utils.static_or_dynamic_map_fn: unstack when the batch is static
            if images.shape[0] is not None:
                return tf.stack([resize(im) for im in tf.unstack(images)])
            return tf.map_fn(resize, images)

        if cfg.normalize_first:
            x = resize_all((2.0 / 255.0) * x - 1.0)
        else:
            x = (2.0 / 255.0) * resize_all(x) - 1.0
    maps = []
    with tf1.name_scope("FeatureExtractor"):
        for i in range(2 + cfg.num_layers):
            with tf1.name_scope(f"Conv2d_{i}"):
                x = tf.nn.relu6(tf.nn.conv2d(x, w[f"fe{i}"], strides=2, padding="SAME"))
            if i >= 2:
                maps.append(x)
    boxes, classes = [], []
    for i, (fm, s) in enumerate(zip(maps, specs)):
        k = len(s)
        n = tf.shape(fm)[0]
        gh, gw = cfg.feature_map_sizes[i]
        with tf1.name_scope(f"BoxPredictor_{i}"):
            with tf1.name_scope("BoxEncodingPredictor"):
                b = tf.nn.bias_add(tf.nn.conv2d(fm, w[f"box{i}"], 1, "SAME"), w[f"boxb{i}"])
            with tf1.name_scope("ClassPredictor"):
                c = tf.nn.bias_add(tf.nn.conv2d(fm, w[f"cls{i}"], 1, "SAME"), w[f"clsb{i}"])
            boxes.append(tf.reshape(b, tf.stack([n, gh * gw * k, 1, 4])))
            classes.append(tf.reshape(c, tf.stack([n, gh * gw * k, cfg.num_classes])))
    anchors = multiple_grid_anchors(cfg.feature_map_sizes, specs, h, w_)
    box_encodings = tf.concat(boxes, axis=1, name="concat")
    class_logits = tf.concat(classes, axis=1, name="concat_1")
    with tf1.name_scope("Postprocessor"):
        codes = tf.squeeze(box_encodings, 2)
        with tf1.name_scope("Decode"):
            with tf1.name_scope("get_center_coordinates_and_sizes"):
                ymin, xmin, ymax, xmax = tf.unstack(tf.transpose(anchors))
                ha, wa = ymax - ymin, xmax - xmin
                yca, xca = ymin + ha / 2.0, xmin + wa / 2.0
            ty, tx, th, tw = tf.unstack(tf.transpose(codes, [2, 0, 1]))
            ty, tx, th, tw = ty / 10.0, tx / 10.0, th / 5.0, tw / 5.0
            hh, ww = tf.exp(th) * ha, tf.exp(tw) * wa
            yc, xc = ty * ha + yca, tx * wa + xca
            decoded = tf.stack([yc - hh / 2.0, xc - ww / 2.0, yc + hh / 2.0, xc + ww / 2.0], axis=-1)
        scores = tf.sigmoid(class_logits / 1.0, name="convert_scores")
        scores = scores[:, :, 1:]
        with tf1.name_scope("BatchMultiClassNonMaxSuppression"):
            nms = tf.image.combined_non_max_suppression(
                decoded[:, :, None, :], scores, MAX_DET, MAX_DET,
                iou_threshold=tf.constant(NMS_IOU, name="iou_threshold"), score_threshold=1e-8, clip_boxes=True)
    return {
        "detection_boxes": tf.identity(nms.nmsed_boxes, name="detection_boxes"),
        "detection_scores": tf.identity(nms.nmsed_scores, name="detection_scores"),
        "detection_classes": tf.identity(nms.nmsed_classes + 1.0, name="detection_classes"),
        "num_detections": tf.identity(tf.cast(nms.valid_detections, tf.float32), name="num_detections"),
    }


def write_frozen_graph(cfg: TinySsd, path: Path) -> Path:
    """A frozen TF1-style graph (weights as constants) at ``path``."""
    w = make_weights(cfg)
    g = tf.Graph()
    with g.as_default():
        image = tf1.placeholder(tf.uint8, [None, None, None, 3], name="image_tensor")
        ssd_graph(image, cfg, {k: tf.constant(v, name=f"w_{k}") for k, v in w.items()})
    Path(path).write_bytes(g.as_graph_def().SerializeToString())
    return Path(path)


def run_frozen_graph(path: Path, images_rgb: np.ndarray) -> dict[str, np.ndarray]:
    """Run the frozen graph end to end on uint8 RGB ``[N, H, W, 3]`` images."""
    gd = tf1.GraphDef()
    gd.ParseFromString(Path(path).read_bytes())
    g = tf.Graph()
    with g.as_default():
        tf1.import_graph_def(gd, name="")
    names = ["detection_boxes", "detection_scores", "detection_classes", "num_detections"]
    with tf1.Session(graph=g) as sess:
        out = sess.run([f"{n}:0" for n in names], {"image_tensor:0": images_rgb})
    return dict(zip(names, out))


class _TinySsdModule(tf.Module):
    def __init__(self, cfg: TinySsd):
        super().__init__()
        self.cfg = cfg
        self.w = {k: tf.Variable(v, name=k) for k, v in make_weights(cfg).items()}

    @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.uint8, name="input_tensor")])
    def detect(self, input_tensor):
        return ssd_graph(input_tensor, self.cfg, self.w)


def write_saved_model(cfg: TinySsd, path: Path) -> Path:
    """A TF2-style SavedModel (``serving_default``: ``input_tensor`` uint8 [1, ?, ?, 3])."""
    module = _TinySsdModule(cfg)
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.detect})
    return Path(path)


def run_saved_model(path: Path, image_rgb: np.ndarray) -> dict[str, np.ndarray]:
    fn = tf.saved_model.load(str(path)).signatures["serving_default"]
    return {k: v.numpy() for k, v in fn(input_tensor=tf.constant(image_rgb)).items()}


def multiscale_grid_anchors(min_level, max_level, anchor_scale, aspect_ratios, scales_per_octave, im_height, im_width):
    """TF ops, OD API ``MultiscaleGridAnchorGenerator`` (normalised corners [A, 4]): per level a
    ``GridAnchorGenerator`` with meshgrid(scales, aspect_ratios) box order, pixel stride 2**level,
    half-stride offset only where the image size is a multiple of the stride."""
    scales = [2 ** (i / scales_per_octave) for i in range(scales_per_octave)]
    grids = []
    for level in range(min_level, max_level + 1):
        stride = 2 ** level
        gh, gw = -(-im_height // stride), -(-im_width // stride)
        off = [stride / 2.0 if im_height % stride == 0 else 0.0, stride / 2.0 if im_width % stride == 0 else 0.0]
        scales_grid, ratios_grid = tf.meshgrid(tf.constant(scales, tf.float32), tf.constant(aspect_ratios, tf.float32))
        scales_grid, ratios_grid = tf.reshape(scales_grid, [-1]), tf.reshape(ratios_grid, [-1])
        base = anchor_scale * stride
        heights = scales_grid / tf.sqrt(ratios_grid) * base
        widths = scales_grid * tf.sqrt(ratios_grid) * base
        yc = tf.cast(tf.range(gh), tf.float32) * stride + off[0]
        xc = tf.cast(tf.range(gw), tf.float32) * stride + off[1]
        k = heights.shape[0]
        yc = tf.broadcast_to(yc[:, None, None], [gh, gw, k])
        xc = tf.broadcast_to(xc[None, :, None], [gh, gw, k])
        hh = tf.broadcast_to(heights[None, None, :], [gh, gw, k])
        ww = tf.broadcast_to(widths[None, None, :], [gh, gw, k])
        corners = tf.stack([(yc - 0.5 * hh) / im_height, (xc - 0.5 * ww) / im_width,
                            (yc + 0.5 * hh) / im_height, (xc + 0.5 * ww) / im_width], axis=-1)
        grids.append(tf.reshape(corners, [-1, 4]))
    return tf.concat(grids, axis=0)


EGOHANDS_NON_SQUARE = TinySsd(input_size=(48, 80), num_classes=2, min_scale=0.05, seed=1)
CONF_TH = 0.5  # detections compared: TF and trtssd scores >= this


def graph_spec(cfg: TinySsd, **anchor_changes) -> GridAnchorSpec:
    return replace(GridAnchorSpec(min_scale=cfg.min_scale, max_scale=cfg.max_scale, aspect_ratios=cfg.aspect_ratios,
                                  feature_map_sizes=cfg.feature_map_sizes), **anchor_changes)


def make_images(cfg: TinySsd, n: int, seed: int) -> np.ndarray:
    """Smooth random RGB images of the model's input size (so the resize is the identity)."""
    rng = np.random.default_rng(seed)
    h, w = cfg.input_size
    small = rng.integers(0, 256, (n, h // 8, w // 8, 3)).astype(np.float32)
    return np.clip(np.repeat(np.repeat(small, 8, 1), 8, 2) + rng.normal(0, 20, (n, h, w, 3)), 0, 255).astype(np.uint8)


def assert_same_detections(tf_out: dict, dets: list, cfg: TinySsd, conf_th: float = CONF_TH) -> int:
    """TF end-to-end detections (scores >= conf_th) == trtssd detections: same count, classes,
    IoU >= 0.9 and scores within 1e-3. Returns the number of detections compared."""
    h, w = cfg.input_size
    total = 0
    for i, det in enumerate(dets):
        keep = tf_out["detection_scores"][i] >= conf_th
        boxes = tf_out["detection_boxes"][i][keep][:, [1, 0, 3, 2]] * np.array([w, h, w, h], np.float32)
        classes = tf_out["detection_classes"][i][keep].astype(np.int64)
        scores = tf_out["detection_scores"][i][keep]
        assert len(det.confidence) == len(scores), f"image {i}: trtssd {len(det.confidence)} vs TF {len(scores)}"
        if len(scores) == 0:
            continue
        iou = box_iou(boxes, det.xyxy)
        same_class = classes[:, None] == det.class_id[None, :]
        best = np.where(same_class, iou, -1).argmax(axis=1)
        assert (np.where(same_class, iou, -1).max(axis=1) >= 0.9).all()
        np.testing.assert_allclose(det.confidence[best], scores, atol=1e-3)
        total += len(scores)
    return total
