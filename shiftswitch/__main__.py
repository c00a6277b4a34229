"""``python -m shiftswitch``: the same as the ``shiftswitch`` command."""

from shiftswitch.cli import main

main()
