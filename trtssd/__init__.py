"""trtssd: real-time SSD object detection (TFLite / TF OD API SSD -> ONNX -> ONNX Runtime / TensorRT / PyTorch).

The top-level package stays import-light; heavy modules (onnxruntime, TensorFlow) load on use.
"""

__version__ = "0.1.0"

from trtssd.detections import Detections  # noqa: E402
from trtssd.errors import TrtSsdError  # noqa: E402

__all__ = ["Detections", "TrtSsdError", "__version__"]
