"""What ops people do, as functions of plain values: switch a device now (and hold it), change
its number, edit overrides, store and roll back the roster, pause and resume. The command line
and the HTTP API are two shells over these same functions: one rule, one implementation.

A caller's mistake is a :class:`Refused`, one line naming the place and the fix; each shell
says it its own way (a line on stderr and an exit code, a JSON error and a 4xx).
"""

from shiftswitch.operations.context import Operations
from shiftswitch.problems import Refused

__all__ = ["Operations", "Refused"]
