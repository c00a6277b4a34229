"""The ``shiftswitch`` command line: one module per command group, shared options in
:mod:`shiftswitch.cli.context`."""

from shiftswitch.cli.main import cli, main

__all__ = ["cli", "main"]
