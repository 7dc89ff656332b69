"""Accuracy evaluation (COCO mAP with pycocotools)."""
