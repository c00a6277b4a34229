"""Notifications delivered for real through Apprise to receivers the test starts (a JSON
webhook, an SMTP server), on SQLite and PostgreSQL: grouped, retried, delivered once, at most
twice when a deliverer is killed between sending and recording, none lost across a restart, a
recovery told, and no channel URL anywhere but the receiver."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, MetaData, select
from sqlalchemy.orm import Session

from shiftswitch.db import make_engine
from shiftswitch.exotel import Kind, Outcome
from shiftswitch.models import (
    Action,
    Attempt,
    DeviceState,
    ExotelOutage,
    ReadBack,
    Status,
)
from shiftswitch.notify import outbox
from shiftswitch.notify.config import NotifyConfig, Rule, load_config
from shiftswitch.notify.deliverer import Deliverer
from shiftswitch.notify.tables import NotificationDelivery
from shiftswitch.notify.watch import DevicesWatch, DriftWatch, OutagesWatch, RemindersWatch
from shiftswitch.outcomes import OutcomeStore, attempt_row
from shiftswitch.settings import ConfigError
from shiftswitch.sources.store import RosterStore
from tests.commands import shiftswitch
from tests.receivers import Webhook, smtp, webhook
from tests.rosters import make_roster, roster_text

T = datetime(2026, 12, 7, 3, 30, tzinfo=UTC)
S = timedelta(seconds=1)
CONFIG = NotifyConfig(
    {"ops": "OPS_URL", "mail": "MAIL_URL"},
    (
        Rule(frozenset({"switch_failed", "no_worker", "roster_refused"}), ("ops",)),
        Rule(frozenset({"roster_refused"}), ("mail",)),
    ),
)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    made = make_engine(database_url)
    yield made
    made.dispose()


@pytest.fixture
def hook() -> Iterator[Webhook]:
    with webhook() as h:
        yield h


def failed(engine: Engine, n: int, at: datetime, first: int = 1) -> None:
    with Session(engine) as session, session.begin():
        for i in range(first, first + n):
            outbox.record(session, CONFIG, "switch_failed", f"action/{i}", at,
                          {"agent": f"a{i}", "device": "desk", "on": True, "status": "failed",
                           "why": "HTTP 500 after 8 attempts"})  # fmt: skip


def test_a_burst_of_failures_is_one_message_naming_the_first_ten(
    engine: Engine, hook: Webhook
) -> None:
    deliverer = Deliverer(
        engine, CONFIG, env={"OPS_URL": hook.url()}, public_url="https://ss.example"
    )
    failed(engine, 25, T)
    assert deliverer.tick(T + S) == 0  # gathering: more may come
    failed(engine, 5, T + S, first=26)
    assert deliverer.tick(T + 2 * S) == 1
    [one] = hook.messages()
    assert one["title"] == "shiftswitch: 30 switches failed"
    lines = one["message"].splitlines()
    assert lines[0] == "a1 desk ON: failed, HTTP 500 after 8 attempts"
    assert "... and 20 more" in lines and "https://ss.example/operations" in lines
    assert lines[-1].startswith("(delivery ssw-switch_failed-")
    # Further failures within 30 s wait for one follow-up.
    failed(engine, 3, T + 10 * S, first=100)
    assert deliverer.tick(T + 15 * S) == 0
    assert deliverer.tick(T + 33 * S) == 1
    assert hook.messages()[1]["title"] == "shiftswitch: 3 switches failed"


def test_a_receiver_failing_first_is_tried_again_and_told_once(
    engine: Engine, hook: Webhook
) -> None:
    hook.fail = 2
    deliverer = Deliverer(engine, CONFIG, env={"OPS_URL": hook.url()})
    failed(engine, 1, T)
    assert deliverer.tick(T + 2 * S) == 0  # 500
    assert deliverer.tick(T + 2.5 * S) == 0  # not yet: after 1 s
    assert deliverer.tick(T + 3 * S) == 0  # 500 again
    assert deliverer.tick(T + 5 * S) == 1
    assert deliverer.tick(T + 60 * S) == 0
    assert len(hook.messages()) == 1
    with Session(engine) as session:
        [d] = session.scalars(select(NotificationDelivery))
        assert d.attempts == 3 and d.sent_at == T + 5 * S and d.last_error is None


def test_a_channel_without_its_url_waits_saying_so(engine: Engine, hook: Webhook) -> None:
    deliverer = Deliverer(engine, CONFIG, env={})
    failed(engine, 1, T)
    assert deliverer.tick(T + 2 * S) == 0
    with Session(engine) as session:
        [d] = session.scalars(select(NotificationDelivery))
        assert d.last_error == "channel ops: OPS_URL is not set" and d.sent_at is None
    later = Deliverer(engine, CONFIG, env={"OPS_URL": hook.url()})
    assert later.tick(T + 10 * S) == 1  # none lost: sent once the URL is there


KILLED = """
import os, signal, sys
from datetime import datetime
from shiftswitch.db import make_engine
from shiftswitch.notify.deliverer import Deliverer
from shiftswitch.notify.watch import DevicesWatch, DriftWatch, OutagesWatch, RemindersWatch
from shiftswitch.notify.send import send
from tests.integration.test_notify import CONFIG

def send_then_die(url, title, body, recipient):
    send(url, title, body, recipient)
    os.kill(os.getpid(), signal.SIGKILL)  # after sending, before recording

deliverer = Deliverer(make_engine(sys.argv[1]), CONFIG, env={"OPS_URL": sys.argv[2]},
                      sender=send_then_die)
deliverer.tick(datetime.fromisoformat(sys.argv[3]))
"""


def test_a_deliverer_killed_after_sending_sends_it_again_once_with_its_key(
    engine: Engine, hook: Webhook, database_url: str
) -> None:
    failed(engine, 2, T)
    done = subprocess.run(
        [sys.executable, "-c", KILLED, database_url, hook.url(), (T + 2 * S).isoformat()],
        cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert len(hook.messages()) == 1
    again = Deliverer(engine, CONFIG, env={"OPS_URL": hook.url()})
    assert again.tick(T + 3 * S) == 0  # claimed by the dead deliverer for two minutes
    assert again.tick(T + 123 * S) == 1
    assert again.tick(T + 400 * S) == 0
    first, second = hook.messages()
    assert first == second  # the same message, with the same delivery key
    assert "(delivery ssw-switch_failed-" in first["message"]


def test_a_condition_is_told_once_and_its_recovery_to_the_same_channels(
    engine: Engine, hook: Webhook
) -> None:
    deliverer = Deliverer(engine, CONFIG, env={"OPS_URL": hook.url()})
    with Session(engine) as session, session.begin():
        why = {"why": "no worker alive for 60 s; 12 switches due"}
        assert outbox.open_condition(session, CONFIG, "no_worker", "workers", T, why)
    with Session(engine) as session, session.begin():  # noticed again: still open
        assert not outbox.open_condition(session, CONFIG, "no_worker", "workers", T + S, {})
    assert deliverer.tick(T + 2 * S) == 1
    with Session(engine) as session, session.begin():
        assert outbox.close_condition(session, CONFIG, "no_worker", "workers", T + 40 * S)
        assert not outbox.close_condition(session, CONFIG, "no_worker", "workers", T + 41 * S)
    assert deliverer.tick(T + 42 * S) == 1
    alert, recovered = hook.messages()
    assert alert["title"] == "shiftswitch: no worker alive"
    assert "no worker alive for 60 s; 12 switches due" in alert["message"]
    assert recovered["title"] == "shiftswitch: recovered"
    assert recovered["message"].startswith("no worker alive (workers): cleared, open since")


def test_mail_through_an_smtp_server(engine: Engine) -> None:
    with smtp() as (box, port):
        url = f"mailto://127.0.0.1:{port}?from=ops@example.com&to=lead@example.com&mode=insecure"
        deliverer = Deliverer(engine, CONFIG, env={"MAIL_URL": url})
        with Session(engine) as session, session.begin():
            outbox.record(session, CONFIG, "roster_refused", "roster/3", T,
                          {"why": "shifts[2].start: invalid cron"})  # fmt: skip
        assert deliverer.tick(T + 2 * S) == 1  # mail; ops has no URL here
        [(sender, to, content)] = box.mail
        assert sender == "ops@example.com" and to == ["lead@example.com"]
        assert b"roster edits refused" in content


def test_no_channel_url_is_kept_anywhere_but_the_receiver(
    engine: Engine, hook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "hook-secret-4f1c"
    hook.fail = 1
    deliverer = Deliverer(engine, CONFIG, env={"OPS_URL": hook.url(password=secret)})
    failed(engine, 1, T)
    deliverer.tick(T + 2 * S)
    deliverer.tick(T + 4 * S)
    assert len(hook.messages()) == 1
    tables = MetaData()
    tables.reflect(engine)
    with engine.connect() as conn:
        stored = json.dumps([[list(map(str, r)) for r in conn.execute(select(t))]
                             for t in tables.sorted_tables])  # fmt: skip
    assert secret not in stored and str(hook.port) not in stored
    assert secret not in caplog.text and secret not in json.dumps(hook.messages())


def test_a_bad_notify_file_is_one_line_naming_its_place(tmp_path: Path) -> None:
    path = tmp_path / "notify.yaml"
    path.write_text("channels:\n  ops: {url: 'slack://secret'}\nrules: []\n")
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    assert str(caught.value) == (
        f"{path}:2: channels.ops: expected {{url_env: VARIABLE}}: the URL comes from the "
        "environment, never from the file"
    )
    path.write_text("channels:\n  ops: {url_env: OPS}\nrules:\n  - {events: [fire], to: [ops]}\n")
    with pytest.raises(ConfigError, match="unknown event 'fire'"):
        load_config(str(path))
    assert os.environ.get("OPS") is None


def test_notify_test_and_list_from_the_command_line(
    database_url: str, hook: Webhook, tmp_path: Path
) -> None:
    (tmp_path / "notify.yaml").write_text(
        "channels:\n  ops: {url_env: OPS_URL}\nrules:\n  - {events: [switch_failed], to: [ops]}\n"
    )
    env = {**os.environ, "DATABASE_URL": database_url,
           "SHIFTSWITCH_NOTIFY": str(tmp_path / "notify.yaml"), "OPS_URL": hook.url()}  # fmt: skip
    done = shiftswitch("notify", "test", "ops", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "sent a test message to ops"
    assert hook.messages()[0]["title"] == "shiftswitch: test message"
    unknown = shiftswitch("notify", "test", "pager", env=env)
    assert unknown.returncode == 1
    assert "unknown channel 'pager'; the channels are ops" in unknown.stderr
    listed = json.loads(shiftswitch("notify", "list", "--json", env=env).stdout)
    [test] = listed["messages"]
    assert test["channel"] == "ops" and test["kind"] == "test" and test["state"] == "sent"
    down = shiftswitch("notify", "test", "ops", env={**env, "OPS_URL": "json://127.0.0.1:9/x"})
    assert down.returncode == 1 and "Traceback" not in down.stderr
    assert "127.0.0.1" not in down.stderr  # the URL's parts are never said


def test_exotel_down_for_a_minute_is_told_and_its_end(engine: Engine, hook: Webhook) -> None:
    config = NotifyConfig({"ops": "OPS_URL"}, (Rule(frozenset({"exotel_down"}), ("ops",)),))
    deliverer = Deliverer(engine, config, env={"OPS_URL": hook.url()})
    watch = OutagesWatch()
    with Session(engine) as session, session.begin():
        session.add(ExotelOutage(account="main", started_at=T, error="500 1004 Internal Error"))
    watch.check(engine, config, T + 30 * S)  # not a minute yet
    assert deliverer.tick(T + 33 * S) == 0
    watch.check(engine, config, T + 61 * S)
    assert deliverer.tick(T + 64 * S) == 1
    with Session(engine) as session, session.begin():
        for outage in session.scalars(select(ExotelOutage)):
            outage.ended_at = T + 90 * S
    watch.check(engine, config, T + 91 * S)
    assert deliverer.tick(T + 94 * S) == 1
    down, back = hook.messages()
    assert down["title"] == "shiftswitch: Exotel down"
    assert "main every request failing since 03:30:00Z: 500 1004 Internal Error" in down["message"]
    assert back["message"].startswith("Exotel down (main): cleared")


def test_a_late_boundary_is_told_once_per_account_and_instant(
    engine: Engine, hook: Webhook
) -> None:
    config = NotifyConfig({"ops": "OPS_URL"}, (Rule(frozenset({"boundary_late"}), ("ops",)),))
    deliverer = Deliverer(engine, config, env={"OPS_URL": hook.url()})
    with Session(engine) as session, session.begin():
        for agent in ("asha", "ravi"):  # two late switches of one boundary
            action = Action(id=1, agent=agent, device="desk", account="main", due_at=T)
            outbox.boundary_late(session, config, action, 150 * S, T + 150 * S)
    assert deliverer.tick(T + 153 * S) == 1
    [late] = hook.messages()
    assert late["title"] == "shiftswitch: boundaries late"
    assert "the boundary at 2026-12-07T03:30:00+00:00 ran 150 s late" in late["message"]


def test_a_ramped_on_is_late_against_the_shift_start_it_serves(
    engine: Engine, hook: Webhook
) -> None:
    # Two ONs a ramp moved before the 03:30 start: one confirmed 10 s before the start (in
    # time, though 170 s after its own instant), one 150 s after it (late).
    config = NotifyConfig({"ops": "OPS_URL"}, (Rule(frozenset({"boundary_late"}), ("ops",)),))
    outcomes = OutcomeStore(engine)
    outcomes.notify, outcomes.late_after = config, 60.0
    ok = Outcome(Kind.OK, 200, None, None, "r-ok", None, 0.1)
    for n, (due, confirmed) in enumerate([(-180, -10), (-120, 150)]):
        action = Action(
            key=f"k{n}", source="schedule", user_key=f"main/u-{n}", account="main", sid="acme",
            base_url="http://127.0.0.1:9", rate_limit="50/min", agent=f"a{n}", device="desk",
            user_id=f"u-{n}", device_id=f"d-{n}", siblings=[], wants_on=True, kind="switch",
            due_at=T + due * S, boundary_at=T, created_at=T - 300 * S, status=Status.RUNNING,
            attempts=1,
        )  # fmt: skip
        with Session(engine, expire_on_commit=False) as session, session.begin():
            session.add(action)
        at = T + confirmed * S
        outcomes.succeed(action, ok, attempt_row(action, 1, "PUT available=true", at, ok), at)
    Deliverer(engine, config, env={"OPS_URL": hook.url()}).tick(T + 153 * S)
    [late] = hook.messages()
    assert "the boundary at 2026-12-07T03:30:00+00:00 ran 150 s late" in late["message"]
    assert "a1 desk" in late["message"] and "a0" not in late["message"]


def test_an_agent_with_a_contact_is_reminded_once_of_each_shift_start(engine: Engine) -> None:
    config = NotifyConfig(
        {"agents": "AGENT_MAIL_URL"},
        (Rule(frozenset({"shift_reminder"}), ("agents",), timedelta(minutes=10)),),
    )
    roster = make_roster(
        [{"name": "early", "start": "0 9 * * *", "duration": "8h", "members": ["asha:desk"]}],
        timezone="Asia/Kolkata",
        assignments=[{"agent": "asha", "from": "2026-12-07T13:00", "to": "2026-12-07T13:30",
                      "off": True, "activity": "Lunch"}],  # its end is no shift start
    )  # fmt: skip
    agents = dict(roster.agents)
    agents["asha"] = replace(agents["asha"], contact="asha@example.com")
    roster = replace(roster, agents=agents)
    watch = RemindersWatch(lambda: roster, config)
    start = datetime(2026, 12, 7, 3, 30, tzinfo=UTC)  # 09:00 in Kolkata
    with smtp() as (box, port):
        url = f"mailto://127.0.0.1:{port}?from=shifts@example.com&mode=insecure"
        deliverer = Deliverer(engine, config, env={"AGENT_MAIL_URL": url})
        watch.check(engine, config, start - timedelta(minutes=10, seconds=5))
        assert deliverer.tick(start - timedelta(minutes=9, seconds=55)) == 0  # not yet
        for later in (5, 10, 15):  # looked at again and again: told once
            watch.check(engine, config, start - timedelta(minutes=10) + later * S)
        assert deliverer.tick(start - timedelta(minutes=9, seconds=40)) == 1
        watch.check(engine, config, start + timedelta(hours=4, minutes=25))  # lunch ends 13:30
        assert deliverer.tick(start + timedelta(hours=4, minutes=26)) == 0
        [(sender, to, content)] = box.mail
    assert sender == "shifts@example.com" and to == ["asha@example.com"]
    assert b"Your shift early starts at 09:00 (Asia/Kolkata)" in content
    assert b"on your desk" in content


def test_check_reports_a_channel_that_fails_and_the_console_lists_it(
    database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "notify.yaml").write_text(
        "channels:\n  ops: {url_env: OPS_URL}\nrules:\n  - {events: [switch_failed], to: [ops]}\n"
    )
    env = {**os.environ, "DATABASE_URL": database_url,
           "SHIFTSWITCH_NOTIFY": str(tmp_path / "notify.yaml")}  # fmt: skip
    unset = shiftswitch("check", "--only", "notify", env=env)
    assert unset.returncode == 1 and "notify    ops: OPS_URL is not set" in unset.stdout
    env["OPS_URL"] = "json://127.0.0.1:9/refused"
    assert shiftswitch("notify", "test", "ops", env=env).returncode == 1
    failing = shiftswitch("check", "--only", "notify", env=env)
    assert failing.returncode == 1 and "ops: failing:" in failing.stdout
    assert "127.0.0.1" not in failing.stdout
    with webhook() as hook:
        env["OPS_URL"] = hook.url()
        assert shiftswitch("notify", "test", "ops", env=env).returncode == 0
        healthy = shiftswitch("check", "--only", "notify", env=env)
    assert healthy.returncode == 0 and "ops: set, none failing" in healthy.stdout


def test_an_agent_is_told_when_a_roster_write_moves_their_starts(engine: Engine) -> None:
    config = NotifyConfig(
        {"agents": "AGENT_MAIL_URL"}, (Rule(frozenset({"shift_changed"}), ("agents",)),)
    )
    store = RosterStore(engine, config)
    now = datetime.now(UTC)
    tomorrow = (now + timedelta(days=1)).strftime("%Y-%m-%d")
    base = roster_text(
        [{"name": "early", "start": "0 9 * * *", "duration": "8h", "members": ["asha:desk"]}],
        timezone="UTC",
    ).replace("user_id: u-0,", "user_id: u-0, contact: asha@example.com,")
    store.write(lambda _b: base, source="t", by="t", now=now)
    moved = base + (
        f"overrides:\n  - {{agent: asha, off: true, from: '{tomorrow}', to: '{tomorrow}'}}\n"
    )
    store.write(lambda _b: moved, source="t", by="t", now=now)  # tomorrow's start is gone
    store.write(lambda _b: moved, source="t", by="t", now=now)  # the same again: nothing told
    with smtp() as (box, port):
        url = f"mailto://127.0.0.1:{port}?from=shifts@example.com&mode=insecure"
        assert Deliverer(engine, config, env={"AGENT_MAIL_URL": url}).tick(now + 3 * S) == 1
        [(_, to, content)] = box.mail
    assert to == ["asha@example.com"]
    assert b"Your shifts in the next 48 hours changed" in content


def test_devices_unknown_and_429s_beyond_one_in_a_hundred_are_told(
    engine: Engine, hook: Webhook
) -> None:
    config = NotifyConfig(
        {"ops": "OPS_URL"}, (Rule(frozenset({"unknown", "rate_limited"}), ("ops",)),)
    )
    deliverer = Deliverer(engine, config, env={"OPS_URL": hook.url()})
    watch = DevicesWatch(frozenset({"unknown", "rate_limited"}))
    with Session(engine) as session, session.begin():
        session.add(ReadBack(account="main", user_id="u-1", device_id="100281", agent="ravi",
                             device="desk", since=T, due_at=T + 30 * S,
                             reason="timeout"))  # fmt: skip
        session.add(Action(
            id=1, key="k1", source="schedule", user_key="main/u-1", account="main", sid="acme",
            base_url="http://127.0.0.1:8090", rate_limit="50/min", agent="ravi", device="desk",
            user_id="u-1", device_id="100281", wants_on=True, due_at=T, created_at=T,
            status="succeeded", attempts=100,
        ))  # fmt: skip
        session.add_all(
            Attempt(
                action_id=1,
                number=n,
                request="PUT available=true",
                at=T + n * S,
                duration_ms=10.0,
                http_code=429 if n < 3 else 200,
                outcome="retry" if n < 3 else "ok",
            )
            for n in range(100)
        )
    watch.check(engine, config, T + 5 * 60 * S)  # 3 in 100 answered 429; unknown 5 minutes
    assert deliverer.tick(T + 5 * 60 * S + 3 * S) == 1
    # 11 minutes on: the device still unknown; the 429s out of the window, so recovered.
    watch.check(engine, config, T + 11 * 60 * S)
    assert deliverer.tick(T + 11 * 60 * S + 3 * S) == 2
    titles = [m["title"] for m in hook.messages()]
    assert titles[0] == "shiftswitch: rate limited by Exotel"
    assert sorted(titles[1:]) == ["shiftswitch: devices unknown", "shiftswitch: recovered"]
    assert "main 3 of 100 requests answered 429 in 10 minutes" in hook.messages()[0]["message"]
    unknown = next(m for m in hook.messages() if m["title"] == "shiftswitch: devices unknown")
    assert "1 devices unknown for over 10 minutes" in unknown["message"]


def test_a_device_left_off_its_desired_state_for_two_minutes_is_told(
    engine: Engine, hook: Webhook
) -> None:
    config = NotifyConfig({"ops": "OPS_URL"}, (Rule(frozenset({"drift"}), ("ops",)),))
    roster = make_roster(
        [{"name": "day", "start": "0 9 * * *", "duration": "8h", "members": ["ravi"]}]
    )  # UTC: 09:00 to 17:00
    deliverer = Deliverer(engine, config, env={"OPS_URL": hook.url()})
    watch = DriftWatch(lambda: roster)
    evening = datetime(2026, 12, 7, 18, tzinfo=UTC)
    with Session(engine) as session, session.begin():
        session.add(DeviceState(account="main", user_id="u-1", device_id="100281", agent="ravi",
                                device="desk", available=True, confirmed_at=evening))  # fmt: skip
    for minutes in (0, 1):
        watch.check(engine, config, evening + timedelta(minutes=minutes))
    assert deliverer.tick(evening + timedelta(minutes=1, seconds=3)) == 0
    watch.check(engine, config, evening + timedelta(minutes=2))
    assert deliverer.tick(evening + timedelta(minutes=2, seconds=3)) == 1
    with Session(engine) as session, session.begin():
        for state in session.scalars(select(DeviceState)):
            state.available = False  # corrected
    watch.check(engine, config, evening + timedelta(minutes=3))
    assert deliverer.tick(evening + timedelta(minutes=3, seconds=3)) == 1
    drift, recovered = hook.messages()
    assert drift["title"] == "shiftswitch: devices drifted"
    assert (
        "1 devices off their desired state for over 2 minutes, the first ravi desk ON"
        in (drift["message"])
    )
    assert recovered["title"] == "shiftswitch: recovered"
