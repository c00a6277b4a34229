"""SQL helpers of the models, compiled without a database."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from shiftswitch.models import OPEN_STATUSES, Action, one_of


@pytest.mark.parametrize("dialect", [postgresql.dialect(), sqlite.dialect()])
def test_statuses_are_written_into_the_statement_not_expanded_at_each_run(dialect: object) -> None:
    stmt = select(Action.id).where(
        Action.user_key == bindparam("owner"), one_of(Action.status, OPEN_STATUSES)
    )
    sql = str(stmt.compile(dialect=dialect))  # type: ignore[arg-type]
    assert "actions.status IN ('pending', 'queued', 'running')" in sql
    assert "POSTCOMPILE" not in sql


def test_only_a_status_can_be_written_into_sql() -> None:
    with pytest.raises(ValueError, match="is not a valid Status"):
        one_of(Action.status, ["queued', 'x"])  # type: ignore[list-item]
