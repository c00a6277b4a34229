"""The shiftswitch worker: a Celery app that applies transitions through Exotel's API.

``worker.app`` holds the Celery app (``celery -A worker.app worker``) and its thin task;
``worker.apply`` applies one user's actions in order, turn by turn, asking ``worker.decisions``
(pure functions) what to do and letting the store (``shiftswitch.turns``) record it;
``worker.exchange`` makes one HTTP exchange; ``worker.context`` is what all of it needs from
outside. Depends on the shared ``shiftswitch`` package only, never on ``scheduler``.
"""
