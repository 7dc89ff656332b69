"""``trtssd``: the console script. Each subcommand module exposes ``register(subparsers)``."""

from __future__ import annotations

import argparse
import importlib
import sys

from trtssd import __version__

# Subcommand modules under trtssd.cli, in help order.
SUBCOMMANDS = ["detect", "detect_async", "eval", "models", "convert", "build", "bench"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trtssd", description="Real-time SSD object detection.")
    parser.add_argument("--version", action="version", version=f"trtssd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"trtssd.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from trtssd.cli.common import run_main

    args = build_parser().parse_args(argv)
    return run_main(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
