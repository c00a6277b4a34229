"""The shiftswitch worker: a Celery app that applies transitions through Exotel's API.

Depends on the shared ``shiftswitch`` package only, never on ``scheduler``.
"""
