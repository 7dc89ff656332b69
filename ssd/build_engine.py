#!/usr/bin/env python3
"""Build a TensorRT engine for an SSD model (the tensorrt_demos ssd/build_engine.py entry point).

    python3 ssd/build_engine.py ssd_mobilenet_v1_coco_quant --precision fp16 --max_batch 4

Same flags as ``trtssd build`` (see docs/tensorrt.md). Runs from a source checkout.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from trtssd.cli.bootstrap import ensure_environment  # noqa: E402

ensure_environment(__file__)

from trtssd.cli.build import add_build_args, run  # noqa: E402
from trtssd.cli.common import run_main  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build_engine.py", description="Build a TensorRT engine (NMS in-engine) for an SSD model.")
    add_build_args(parser)
    return run_main(run, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
