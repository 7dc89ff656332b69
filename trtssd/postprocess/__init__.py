"""Postprocessing as pure numpy functions: box math, priors (anchors) and the box coder, NMS."""
