"""The worker's statements of every switch, run below SQLAlchemy's execution layer.

For each statement, :meth:`sqlalchemy.engine.Connection.execute` builds a cache key, an
execution context and a :class:`~sqlalchemy.engine.Result`: for the short statements of a
worker's turn (a row read by its key, a row written) that costs more CPU than the database's
own work. A :class:`Prepared` statement is compiled once for each dialect and runs on the
DBAPI connection of a SQLAlchemy :class:`~sqlalchemy.engine.Connection`, in its transaction,
through the dialect's own ``do_execute`` (so what wraps it still applies, such as SQLite's
writers taking turns), with its types' bind and result processors: the same SQL, the same
values in and out.

A database error is handled by SQLAlchemy, as its own execution would: raised as a
:class:`~sqlalchemy.exc.DBAPIError`, and a connection found dead invalidated with the rest of
its pool, so that the pool opens new ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Executable, Select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import ArgumentError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Form:
    """A statement compiled for one dialect."""

    sql: str
    order: tuple[str, ...] | None  # the parameters' names in order (positional paramstyle)
    defaults: dict[str, Any]  # every parameter: the value the statement binds, or None if open
    required: frozenset[str]  # the parameters the caller must give
    binds: dict[str, Callable[[Any], Any]]  # the bind processors of the parameters with one
    columns: tuple[str, ...]  # the columns it returns
    results: tuple[Processor, ...]  # and their result processors


_FORMS = "_shiftswitch_prepared"  # the forms compiled for a dialect, kept on the dialect


class Prepared:
    """``statement`` (a Core SELECT, INSERT, UPDATE or DELETE with named bind parameters), run
    on a connection's DBAPI connection; every bind parameter the statement leaves open must be
    given. As :meth:`~sqlalchemy.engine.Connection.execute` does, a connection in no
    transaction begins one (autobegin), and an error is handled as SQLAlchemy handles it: the
    driver's wrapped in a :class:`~sqlalchemy.exc.DBAPIError`, and a connection found dead
    invalidated, with the rest of its pool."""

    def __init__(self, statement: Executable) -> None:
        if not isinstance(statement, Select | UpdateBase):
            raise TypeError(f"not a SELECT, INSERT, UPDATE or DELETE: {statement!r}")
        self.statement = statement

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """The rows the statement returns (none for a statement that returns none)."""
        return self._rows(conn, self._form(conn.dialect), params)

    def first(self, conn: Connection, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """The first row returned, by column name; None when there is none."""
        form = self._form(conn.dialect)
        rows = self._rows(conn, form, params)
        return dict(zip(form.columns, rows[0], strict=True)) if rows else None

    def run(self, conn: Connection, params: Mapping[str, Any]) -> None:
        """Run a statement that returns no rows."""
        self._execute(conn, self._form(conn.dialect), params)

    def _rows(
        self, conn: Connection, form: _Form, params: Mapping[str, Any]
    ) -> list[tuple[Any, ...]]:
        results = form.results
        raw = self._execute(conn, form, params)
        return [tuple(p(v) if p else v for p, v in zip(results, row, strict=True)) for row in raw]

    def _execute(
        self, conn: Connection, form: _Form, params: Mapping[str, Any]
    ) -> Sequence[Sequence[Any]]:
        if not form.required <= params.keys():
            missing = sorted(form.required - params.keys())
            raise ArgumentError(f"a value is required for bind parameter {missing[0]!r}")
        if not conn.in_transaction():
            conn.begin()
        parameters: Any = None
        cursor = None
        try:
            values = {**form.defaults, **params}
            for name, process in form.binds.items():
                values[name] = process(values[name])
            parameters = values if form.order is None else [values[n] for n in form.order]
            dbapi = conn.connection.dbapi_connection
            assert dbapi is not None, "a connection that is closed"
            cursor = dbapi.cursor()
            conn.dialect.do_execute(cursor, form.sql, parameters, None)
            return cursor.fetchall() if form.columns else ()
        except BaseException as exc:
            # SQLAlchemy's own handling: the error wrapped, and a connection found dead
            # invalidated with the rest of its pool (which a restarted server has closed too).
            conn._handle_dbapi_exception(exc, form.sql, parameters, cursor, None)
            raise  # not reached: the handling raises
        finally:
            if cursor is not None and not conn.invalidated:
                cursor.close()

    def _form(self, dialect: Dialect) -> _Form:
        forms: dict[Prepared, _Form] = dialect.__dict__.get(_FORMS) or dialect.__dict__.setdefault(
            _FORMS, {}
        )
        form = forms.get(self)
        if form is None:
            form = forms[self] = _compile(self.statement, dialect)
        return form


def _compile(statement: Select[Any] | UpdateBase, dialect: Dialect) -> _Form:
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    assert isinstance(compiled, SQLCompiler)
    if compiled.escaped_bind_names:  # the driver would be given other names than the caller's
        raise ValueError(f"bind parameter names that must be escaped: {compiled.string}")
    # Every parameter, with the value the statement binds itself (None for one left open).
    defaults = compiled.construct_params({}, _check=False)
    required = frozenset(name for bind, name in compiled.bind_names.items() if bind.required)
    binds: dict[str, Callable[[Any], Any]] = {}
    for name in defaults:
        bind = compiled.binds.get(name)
        process = None if bind is None else bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            binds[name] = process
    returns = isinstance(statement, Select) or bool(compiled.effective_returning)
    exported = list(statement.exported_columns) if returns else []
    return _Form(
        sql=compiled.string,
        order=tuple(compiled.positiontup or ()) if compiled.positional else None,
        defaults=dict(defaults),
        required=required,
        binds=binds,
        columns=tuple(str(c.key) for c in exported),
        results=tuple(
            c.type.dialect_impl(dialect).result_processor(dialect, None) for c in exported
        ),
    )
