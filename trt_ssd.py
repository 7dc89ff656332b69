#!/usr/bin/env python3
"""trt_ssd.py: SSD object detection on an image or video (synchronous loop).

Thin entry point with the original tensorrt_demos flags; the work is in trtssd/cli/detect.py.
Example: python3 trt_ssd.py -m ssd_mobilenet_v1_coco_quant --image photo.jpg --headless --output out.jpg
"""

import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0] if "/" in __file__ else ".")

if __name__ == "__main__":
    try:  # Ctrl-C before the signal handlers are set (imports, argument parsing): one line and
        # exit 130, not a traceback from inside an import
        from trtssd.cli.bootstrap import ensure_environment

        ensure_environment(__file__)
        from trtssd.cli.detect import main

        code = main()
    except KeyboardInterrupt:
        sys.stderr.write("trtssd: interrupted\n")
        code = 130
    sys.exit(code)
