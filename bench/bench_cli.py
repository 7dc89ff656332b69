"""Run ``trtssd bench`` without importing the other subcommands (``python bench/bench_cli.py ARGS``)."""

import argparse
import sys

from trtssd.cli import bench
from trtssd.cli.common import run_main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="trtssd")
    bench.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["bench", *sys.argv[1:]])
    sys.argv = ["trtssd", "bench", *sys.argv[1:]]
    sys.exit(run_main(args.func, args))
