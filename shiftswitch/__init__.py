"""shiftswitch: Exotel devices ON and OFF at shift boundaries, from a roster.

This package is the core shared by the ``scheduler`` and ``worker`` packages: the roster model,
the planner, time rules, settings and (later) the Exotel client and the result tables.
"""

__version__ = "0.1.0"
