"""The shiftswitch worker: a Celery app that applies transitions through Exotel's API.

``worker.app`` holds the Celery app (``celery -A worker.app worker``); ``worker.apply`` the
service that applies one user's actions in order. Depends on the shared ``shiftswitch``
package only, never on ``scheduler``.
"""
