"""The worker's statements of every switch, run below SQLAlchemy's execution layer.

For each statement, :meth:`sqlalchemy.engine.Connection.execute` builds a cache key, an
execution context and a :class:`~sqlalchemy.engine.Result`: for the short statements of a
worker's turn (a row read by its key, a row written) that costs more CPU than the database's
own work. A :class:`Prepared` statement is compiled once for each dialect and runs on the
DBAPI connection of a SQLAlchemy :class:`~sqlalchemy.engine.Connection`, in its transaction,
through the dialect's own ``do_execute`` (so what wraps it still applies, such as SQLite's
writers taking turns), with its types' bind and result processors: the same SQL, the same
values in and out.

A database error is raised as SQLAlchemy raises it (a :class:`~sqlalchemy.exc.DBAPIError`),
and a connection found dead is invalidated, so that the pool opens a new one.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Executable, Select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Form:
    """A statement compiled for one dialect."""

    sql: str
    order: tuple[str, ...] | None  # the parameters' names in order (positional paramstyle)
    defaults: dict[str, Any]  # the values the statement itself binds (a literal's)
    binds: dict[str, Callable[[Any], Any]]  # the bind processors of the parameters with one
    columns: tuple[str, ...]  # the columns it returns
    results: tuple[Processor, ...]  # and their result processors


class Prepared:
    """``statement`` (a Core statement with named bind parameters), run on a connection's
    DBAPI connection; every bind parameter the statement leaves open must be given."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._forms: weakref.WeakKeyDictionary[Dialect, _Form] = weakref.WeakKeyDictionary()

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """The rows the statement returns (none for a statement that returns none)."""
        form = self._form(conn.dialect)
        raw = self._execute(conn, form, params)
        results = form.results
        return [tuple(p(v) if p else v for p, v in zip(results, row, strict=True)) for row in raw]

    def first(self, conn: Connection, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """The first row returned, by column name; None when there is none."""
        rows = self.rows(conn, params)
        return dict(zip(self._form(conn.dialect).columns, rows[0], strict=True)) if rows else None

    def run(self, conn: Connection, params: Mapping[str, Any]) -> None:
        """Run a statement that returns no rows."""
        self._execute(conn, self._form(conn.dialect), params)

    def _execute(
        self, conn: Connection, form: _Form, params: Mapping[str, Any]
    ) -> Sequence[Sequence[Any]]:
        values = {**form.defaults, **params}
        for name, process in form.binds.items():
            values[name] = process(values[name])
        parameters: Any = values if form.order is None else [values[n] for n in form.order]
        dialect = conn.dialect
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None, "a connection that is closed"
        cursor = dbapi.cursor()
        try:
            dialect.do_execute(cursor, form.sql, parameters, None)
            return cursor.fetchall() if form.columns else ()
        except dialect.loaded_dbapi.Error as exc:
            dead = dialect.is_disconnect(exc, dbapi, cursor)
            if dead:
                conn.invalidate(exc)
            raise DBAPIError.instance(
                form.sql,
                parameters,
                exc,
                dialect.loaded_dbapi.Error,
                connection_invalidated=dead,
                dialect=dialect,
            ) from exc
        finally:
            cursor.close()

    def _form(self, dialect: Dialect) -> _Form:
        form = self._forms.get(dialect)
        if form is None:
            form = self._forms[dialect] = _compile(self.statement, dialect)
        return form


def _compile(executable: Executable, dialect: Dialect) -> _Form:
    statement = cast(ClauseElement, executable)
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    assert isinstance(compiled, SQLCompiler)
    # Every parameter, with the value the statement binds itself (None for one left open).
    defaults = compiled.construct_params({}, _check=False)
    binds: dict[str, Callable[[Any], Any]] = {}
    for name in defaults:
        bind = compiled.binds.get(name)
        process = None if bind is None else bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            binds[name] = process
    returns = isinstance(statement, Select) or bool(compiled.effective_returning)
    exported = list(statement.exported_columns) if returns else []  # type: ignore[attr-defined]
    return _Form(
        sql=compiled.string,
        order=tuple(compiled.positiontup or ()) if compiled.positional else None,
        defaults=dict(defaults),
        binds=binds,
        columns=tuple(c.key for c in exported),
        results=tuple(
            c.type.dialect_impl(dialect).result_processor(dialect, None) for c in exported
        ),
    )
