"""The ``shiftswitch`` command line: one module per command group (and the demo it runs),
the options several share in :mod:`shiftswitch.cli.options`, what every command needs in
:mod:`shiftswitch.cli.context`. The top of the dependencies: no module below imports it."""

from shiftswitch.cli.main import cli, main

__all__ = ["cli", "main"]
