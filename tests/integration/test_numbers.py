"""``device set-number`` before and after the worker's request: what is refused before
anything is recorded, and a stored roster the worker cannot write."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import text as sa_text

from shiftswitch.db import make_engine
from shiftswitch.models import Action
from shiftswitch.sources.store import RosterStore
from tests.pipeline import pipeline
from tests.renumbering import ASHA, MEERA, NEW, OLD, RAVI, roster_at
from worker.apply import _renumber_stored


def test_bad_requests_are_refused_before_anything_is_recorded_or_sent(
    tmp_path: Path, sqlite_url: str
) -> None:
    refusals = [
        (
            ("asha", "desk", "9953125068"),
            'shiftswitch: error: NUMBER "9953125068" is not a phone number in E.164 format: '
            "write '+', the country code and the number, without spaces, such as +919953125068 "
            "(see 'shiftswitch device set-number --help')",
        ),
        (("asha", "desk", "+91 99531 25068"), "format: write it as +919953125068 (see 'shiftsw"),
        (("nobody", "desk", "junk"), 'NUMBER "junk" is not a phone number'),  # the number first
        (("kiran", "app", NEW), "kiran app is a SIP soft-phone in the roster (sip:kiran.p)"),
        (("asha", "mobile", OLD), f"asha mobile has the number {OLD} already; nothing to change"),
    ]
    with pipeline(tmp_path, sqlite_url, [ASHA, RAVI, MEERA], roster_at) as p:
        for args, message in refusals:
            done = p.cli("device", "set-number", *args)
            assert done.returncode == 2, (args, done.stderr)
            assert done.stdout == ""
            assert len(done.stderr.splitlines()) == 1, done.stderr
            assert message in done.stderr, done.stderr
        assert p.actions() == []
        assert p.sandbox_log() == []


def test_a_stored_roster_the_worker_cannot_write_fails_nothing(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The change succeeded in Exotel: a failure to write the stored roster is logged, and
    the roster is left as it was."""
    engine = make_engine(sqlite_url)
    store = RosterStore(engine)
    text = roster_at("http://127.0.0.1:8090")
    at = datetime(2026, 11, 30, 9, tzinfo=UTC)
    store.write(lambda _: text, source="tests", by="tests", now=at)
    with engine.begin() as conn:
        conn.execute(sa_text("DROP TABLE roster_versions"))
    ctx = SimpleNamespace(sessions=store.sessions)
    action = Action(id=7, agent="asha", device="mobile", contact_uri=OLD)
    try:
        with caplog.at_level(logging.ERROR, logger="shiftswitch.worker"):
            _renumber_stored(ctx, action, NEW, at)  # type: ignore[arg-type]
        assert "roster_not_renumbered action=7 problem=" in caplog.text
        assert "no such table: roster_versions" in caplog.text
        assert store.current()[1].agents["asha"].devices["mobile"].ref == OLD
    finally:
        engine.dispose()
