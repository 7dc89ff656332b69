#!/usr/bin/env python3
"""trt_ssd_async.py: SSD object detection with a threaded producer/consumer pipeline.

Thin entry point with the original tensorrt_demos flags; the work is in trtssd/cli/detect_async.py.
Example: python3 trt_ssd_async.py -m ssd_mobilenet_v1_coco --usb 0
"""

import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0] if "/" in __file__ else ".")

if __name__ == "__main__":
    try:  # Ctrl-C before the signal handlers are set (imports, argument parsing): one line and
        # exit 130, not a traceback from inside an import
        from trtssd.cli.bootstrap import ensure_environment

        ensure_environment(__file__)
        from trtssd.cli.detect_async import main

        code = main()
    except KeyboardInterrupt:
        sys.stderr.write("trtssd: interrupted\n")
        code = 130
    sys.exit(code)
