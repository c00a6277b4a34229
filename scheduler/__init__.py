"""The shiftswitch scheduler: plans transitions from the roster and enqueues them when due.

Depends on the shared ``shiftswitch`` package only, never on ``worker``.
"""
