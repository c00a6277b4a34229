"""The shiftswitch worker: a Celery app that applies transitions through Exotel's API.

``worker.app`` holds the Celery app and its thin task (``celery -A worker worker`` finds it
here, as ``worker.celery``);
``worker.apply`` applies one user's actions in order, turn by turn, asking ``worker.decisions``
(pure functions) what to do and letting the store (``shiftswitch.turns``) record it;
``worker.exchange`` makes one HTTP exchange; ``worker.context`` is what all of it needs from
outside. Depends on the shared ``shiftswitch`` package only, never on ``scheduler``.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    """``worker.celery``: the Celery app, built from the environment on first use, for
    ``celery -A worker``. Importing the package builds nothing."""
    if name == "celery":
        from worker import app  # noqa: PLC0415 - only when Celery asks

        return app.app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
