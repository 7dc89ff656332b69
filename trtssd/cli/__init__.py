"""Command-line interface: ``trtssd <subcommand>`` and the top-level entry-point scripts."""
