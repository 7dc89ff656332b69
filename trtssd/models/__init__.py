"""Model registry: typed per-model specs, label lists and model-file lookup/download."""

from trtssd.models.spec import BoxCoderSpec, GridAnchorSpec, ModelSource, ModelSpec, PostprocessSpec
from trtssd.models.zoo import MODELS, get_spec

__all__ = ["BoxCoderSpec", "GridAnchorSpec", "ModelSource", "ModelSpec", "PostprocessSpec", "MODELS", "get_spec"]
