"""Alembic environment, for ``shiftswitch db upgrade`` and for Alembic's own commands.

``shiftswitch.db.alembic_config`` passes the database URL in. Run from the top of the
repository, ``alembic`` (``alembic.ini``) takes it from ``DATABASE_URL``, as every shiftswitch
command does: ``alembic current``, ``alembic check``, ``alembic revision --autogenerate``.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context

from shiftswitch.db import make_engine
from shiftswitch.schema import METADATA
from shiftswitch.settings import database_url

config = context.config
target_metadata = METADATA

if config.config_file_name is not None:  # the alembic command: log as alembic.ini says
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or database_url()


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(_url())
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",  # ALTER TABLE via copy on SQLite
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
