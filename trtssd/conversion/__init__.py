"""Conversion of source models (TFLite SSD; TF1/TF2 in later converters) into the one
self-describing trtssd ONNX artifact that every backend runs."""
