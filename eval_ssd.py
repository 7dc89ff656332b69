#!/usr/bin/env python3
"""eval_ssd.py: COCO mAP of an SSD model (thin entry point; the work is in trtssd/cli/eval.py).

Example: python3 eval_ssd.py -m ssd_mobilenet_v1_coco_quant --imgs_dir val2017 --annotations instances_val2017.json
"""

import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0] if "/" in __file__ else ".")
from trtssd.cli.bootstrap import ensure_environment  # noqa: E402

ensure_environment(__file__)

from trtssd.cli.eval import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
