"""Alembic migrations of the shiftswitch tables (run with ``shiftswitch db upgrade``)."""
