#!/usr/bin/env python3
"""trt_ssd_async.py: SSD object detection with a threaded producer/consumer pipeline.

Thin entry point with the original tensorrt_demos flags; the work is in trtssd/cli/detect_async.py.
Example: python3 trt_ssd_async.py -m ssd_mobilenet_v1_coco --usb 0
"""

import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0] if "/" in __file__ else ".")
from trtssd.cli.bootstrap import ensure_environment  # noqa: E402

ensure_environment(__file__)

from trtssd.cli.detect_async import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
