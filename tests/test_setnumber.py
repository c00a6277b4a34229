"""``device set-number``: a device's new number, through the task path to the sandbox.

The end-to-end tests run the CLI as a user does (a subprocess) and a real worker process
against the sandbox, on SQLite and PostgreSQL. The pure parts (the check of the number, the
action, the refusals' wording) are tested on their own first.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType, SimpleNamespace

import pytest
from sqlalchemy import select
from sqlalchemy import text as sa_text

from shiftswitch.broker import CeleryDispatcher, make_celery
from shiftswitch.db import make_engine, upgrade
from shiftswitch.exotel import Kind, Outcome
from shiftswitch.models import Action, ActionKind, DeviceState, ResolvedDevice, Status
from shiftswitch.numbers import number_action, number_problem, refused
from shiftswitch.reports import UsageProblem, manual_action
from shiftswitch.roster.dump import dump
from shiftswitch.roster.loader import parse_roster
from shiftswitch.roster.model import Roster
from shiftswitch.roster.store import RosterStore, renumbered
from shiftswitch.settings import Settings
from tests.pipeline import Pipeline, pipeline, roster_yaml, user
from tests.test_exotel import DEVICE, FakeExotel, Reply, Seen, envelope, failure
from worker.apply import _renumber_stored

OLD, NEW = "+919953125068", "+919953125077"
RAVIS = "+919953125002"  # a number another device of the account has
ASHA = user("u-100", ("100280", "Desk", "+919953125001"), ("100290", "Mobile", OLD))
RAVI = user("u-101", ("100281", "Desk", RAVIS))  # not in the roster
MEERA = user("u-102", ("100282", "Softphone", "sip:meera.k"))
AGENTS = {
    "asha": ("u-100", {"desk": "100280", "mobile": OLD}),
    "meera": ("u-102", {"soft": "100282"}),  # a device id, which is a SIP device in Exotel
    "kiran": ("u-103", {"app": "sip:kiran.p"}),
}
SHIFTS = [{"name": "day", "start": "0 9 * * *", "duration": "8h", "members": ["asha:desk"]}]
WARNING = (
    "Exotel stops routing calls to the old number at once, and routes none to the new one "
    "until the device is verified again"
)


def roster(base_url: str = "http://127.0.0.1:8090") -> Roster:
    return parse_roster(roster_yaml(base_url, AGENTS, SHIFTS))


# -- the pure parts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("+919953125068", None),
        ("9953125068", "NUMBER \"9953125068\" is not a phone number in E.164 format: write '+', "),
        ("+91 99531 25068", 'NUMBER "+91 99531 25068" is not in E.164 format: write it as +9199'),
        ("0091-99531-25068", "is not in E.164 format: write it as +919953125068"),
        ("(+91) 99531.25068", "is not in E.164 format: write it as +919953125068"),
        ("+0123456789", "is not a phone number in E.164 format"),
        ("sip:asha.k", "is not a phone number in E.164 format"),
        ("+9199531250681234", "is not a phone number in E.164 format"),  # 16 digits
    ],
)
def test_number_problem(number: str, problem: str | None) -> None:
    found = number_problem(number)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_number_action_is_a_manual_number_change_that_sends_no_state() -> None:
    at = datetime(2026, 11, 30, 9, tzinfo=UTC)
    action = number_action(roster(), "asha", "mobile", NEW, at)
    assert (action.kind, action.source, action.new_contact_uri, action.contact_uri) == (
        ActionKind.NUMBER,
        "manual",
        NEW,
        OLD,
    )
    assert (action.user_id, action.device_id, action.wants_on, action.due_at) == (
        "u-100",
        None,
        False,
        at,
    )
    assert action.key.startswith("manual:") and action.key.endswith("/number")
    assert manual_action(roster(), True, at, agent="asha", device="desk").kind == "switch"


@pytest.mark.parametrize(
    ("agent", "device", "number", "problem"),
    [
        ("kiran", "app", NEW, "kiran app is a SIP soft-phone in the roster (sip:kiran.p); Exotel"),
        ("asha", "mobile", OLD, f"asha mobile has the number {OLD} already; nothing to change"),
        ("nobody", "desk", NEW, 'unknown agent "nobody"; agents are: asha, kiran, meera'),
        ("asha", "laptop", NEW, 'agent "asha" has no device "laptop"; devices are: desk, mobile'),
    ],
)
def test_number_action_refuses(agent: str, device: str, number: str, problem: str) -> None:
    with pytest.raises(UsageProblem) as caught:
        number_action(roster(), agent, device, number, datetime.now(UTC))
    assert str(caught.value).startswith(problem)


def _outcome(http: int, description: str, code: str = "1003") -> Outcome:
    return Outcome(Kind.FINAL, http, code, description, "req-1", None, 0.1)


def test_refusals_say_what_they_mean() -> None:
    taken = refused(_outcome(409, "Device already exists", "1021"), RAVIS, "acme_corp")
    assert taken == (
        f"{RAVIS} is already the number of another device in Exotel account acme_corp; "
        "choose another number (Exotel: 409 1021 Device already exists [request req-1])"
    )
    sip = refused(_outcome(403, "This device is not PSTN. Operation not permitted"), NEW, "a")
    assert sip == (
        "Exotel changes the number only of phone (PSTN) devices; this one is a SIP soft-phone "
        "(Exotel: 403 1003 This device is not PSTN. Operation not permitted [request req-1])"
    )
    other = refused(_outcome(403, "This is a trial account. Operation not permitted"), NEW, "a")
    assert other == (
        "Exotel refused: 403 1003 This is a trial account. Operation not permitted [request req-1]"
    )


# -- through a worker, against the sandbox ------------------------------------------------------


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[Pipeline]:
    with pipeline(
        tmp_path,
        database_url,
        [ASHA, RAVI, MEERA],
        lambda url: roster_yaml(url, AGENTS, SHIFTS),
    ) as p:
        yield p


def _roster_line(p: Pipeline, text: str) -> int:
    lines = p.roster_path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


@pytest.mark.integration
def test_set_number_then_the_next_switch_finds_the_device(world: Pipeline) -> None:
    p = world
    p.start_worker()
    done = p.cli("device", "set-number", "asha", "mobile", NEW, "--wait")
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith(f"warning: asha mobile ({OLD}) gets the number {NEW}: {WARNING}")
    result, unverified, edit = done.stdout.splitlines()
    # two attempts: the GET that found the device by its old number, then the PUT
    assert result.startswith(f"succeeded: asha mobile number {NEW} (HTTP 200, 2 attempts, ")
    assert unverified == (
        f"asha mobile now has the number {NEW} and is unverified: Exotel routes calls to it "
        "again once it is verified"
    )
    where = f"{p.roster_path}:{_roster_line(p, OLD)}"
    assert edit.startswith(f'change agents.asha.devices.mobile in {where} from "{OLD}" to "{NEW}"')

    # Exotel (the sandbox) has the new number, unverified; the PUT carried contact_uri alone
    (put,) = p.puts()
    assert put["body"] == {"contact_uri": NEW} and put["status"] == 200
    device = p.device("u-100", "100290")
    assert (device["contact_uri"], device["verified"], device["available"]) == (NEW, False, None)
    # recorded like any action, every HTTP exchange with it
    (action,) = p.actions()
    assert (action.kind, action.source, action.status, action.new_contact_uri) == (
        "number",
        "manual",
        Status.SUCCEEDED,
        NEW,
    )
    assert (action.device_id, action.last_http_code, action.attempts) == ("100290", 200, 2)
    assert [(a.request, a.http_code, a.outcome) for a in p.attempts()] == [
        ("GET users", 200, "ok"),
        (f"PUT contact_uri={NEW}", 200, "ok"),
    ]
    # the caches know the device by its new number only
    with p.store.sessions() as session:
        cached = [
            (r.contact_uri, r.user_id, r.device_id) for r in session.scalars(select(ResolvedDevice))
        ]
        state = session.get_one(DeviceState, ("main", "u-100", "100290"))
    assert cached == [(NEW, "u-100", "100290")]
    assert (state.contact_uri, state.available, state.action_id) == (NEW, None, action.id)

    # the roster edited as told, the device verified again: the next switch goes to it,
    # found through the cache (no second GET)
    p.roster_path.write_text(p.roster_path.read_text().replace(OLD, NEW))
    p.control("PUT", "devices/acme_corp/u-100/100290", {"verified": True})
    on = p.cli("device", "on", "asha", "mobile", "--wait")
    assert on.returncode == 0, on.stderr
    assert p.device("u-100", "100290")["available"] is True
    assert [r["method"] for r in p.sandbox_log()] == ["GET", "PUT", "PUT"]


@pytest.mark.integration
def test_set_number_of_a_device_given_by_id_without_waiting(world: Pipeline) -> None:
    p = world
    p.start_worker()
    queued = p.cli("device", "set-number", "asha", "desk", NEW)
    assert queued.returncode == 0, queued.stderr
    assert queued.stdout.startswith(f"action 1 queued: asha desk number {NEW}")
    warning, reminder = queued.stderr.splitlines()
    assert warning.startswith(f"warning: asha desk (device 100280) gets the number {NEW}: ")
    assert reminder == (
        "once it succeeds, asha desk is unverified until verified again "
        "('shiftswitch history asha' shows the result)"
    )  # and nothing to edit in the roster: it gives the device id
    (action,) = p.settle()
    assert action.status == Status.SUCCEEDED and action.attempts == 1
    assert p.device("u-100", "100280")["contact_uri"] == NEW
    history = p.cli("history", "asha")
    assert history.returncode == 0
    assert f"number {NEW}  manual  succeeded" in history.stdout


@pytest.mark.integration
def test_a_number_another_device_has_is_refused_with_409(world: Pipeline) -> None:
    p = world
    p.start_worker()
    done = p.cli("device", "set-number", "asha", "desk", RAVIS, "--wait")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    (line,) = done.stdout.splitlines()
    assert line.startswith(f"failed: asha desk number {RAVIS} (1 attempt, ")
    assert line.endswith(
        f"): {RAVIS} is already the number of another device in Exotel account acme_corp; "
        f"choose another number (Exotel: 409 1021 Device already exists [request "
        f"{p.puts()[0]['request_id']}])"
    )
    (action,) = p.actions()
    assert (action.status, action.last_http_code, action.error_code) == ("failed", 409, "1021")
    assert len(p.attempts()) == 1
    device = p.device("u-100", "100280")
    assert (device["contact_uri"], device["verified"]) == ("+919953125001", True)
    with p.store.sessions() as session:
        assert list(session.scalars(select(ResolvedDevice))) == []
        assert list(session.scalars(select(DeviceState))) == []


@pytest.mark.integration
def test_a_sip_device_is_refused_with_403(world: Pipeline) -> None:
    p = world
    p.start_worker()
    done = p.cli("device", "set-number", "meera", "soft", NEW, "--wait")
    assert done.returncode == 1
    (line,) = done.stdout.splitlines()
    assert line.startswith(f"failed: meera soft number {NEW} (1 attempt, ")
    assert (
        "): Exotel changes the number only of phone (PSTN) devices; this one is a SIP "
        "soft-phone (Exotel: 403 1003 This device is not PSTN. Operation not permitted"
    ) in line
    again = p.cli("device", "set-number", "meera", "soft", NEW, "--wait", "--json")
    assert again.returncode == 1
    row = json.loads(again.stdout)
    assert (row["kind"], row["status"], row["http_code"], row["new_contact_uri"]) == (
        "number",
        "failed",
        403,
        NEW,
    )
    assert p.device("u-102", "100282")["contact_uri"] == "sip:meera.k"


@pytest.mark.integration
def test_bad_requests_are_refused_before_anything_is_recorded_or_sent(world: Pipeline) -> None:
    p = world
    for args, message in [
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
    ]:
        done = p.cli("device", "set-number", *args)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stdout == ""
        assert len(done.stderr.splitlines()) == 1, done.stderr
        assert message in done.stderr, done.stderr
    assert p.actions() == []
    assert p.sandbox_log() == []


@pytest.mark.integration
def test_number_changes_neither_supersede_nor_block_switches(world: Pipeline) -> None:
    """A later number change is no later switch, and a failed one is no failed OFF."""
    p = world
    p.start_worker()
    r = roster(p.sandbox.url)
    now = datetime.now(UTC)
    steps = [
        manual_action(r, True, now, agent="asha", device="desk"),
        number_action(r, "asha", "desk", RAVIS, now + timedelta(seconds=1)),  # 409
        manual_action(r, True, now + timedelta(seconds=2), agent="asha", device="mobile"),
    ]
    p.store.record(steps, now)
    dispatcher = CeleryDispatcher(make_celery(Settings.from_env(p.env)))
    p.store.enqueue([s.key for s in steps], dispatcher, now)
    actions = p.settle()
    assert [(a.device, a.kind, a.wants_on, a.status) for a in actions] == [
        ("desk", "switch", True, Status.SUCCEEDED),
        ("desk", "number", False, Status.FAILED),
        ("mobile", "switch", True, Status.SUCCEEDED),
        ("desk", "switch", False, Status.SUCCEEDED),  # the mobile ON turned the desk OFF first
    ]
    assert [(r["device_id"], r["body"]) for r in p.puts()] == [
        ("100280", {"available": True}),
        ("100280", {"contact_uri": RAVIS}),
        ("100280", {"available": False}),
        ("100290", {"available": True}),
    ]


# -- a change whose answer was lost -------------------------------------------------------------


@pytest.mark.integration
def test_a_409_for_a_change_already_made_is_the_change_done(
    tmp_path: Path, database_url: str
) -> None:
    """The first PUT lands but its answer comes too late; the retry meets 409 (Exotel has the
    number, on this very device); the worker reads the user and finds the change done."""
    fake = FakeExotel()
    changed = {**DEVICE, "id": 100280, "contact_uri": NEW, "verified": False, "available": None}
    replies = [
        Reply(body=envelope(changed), delay=2.0),  # past the worker's 1 s read timeout
        Reply(409, failure(409, 1021, "Device already exists")),
        Reply(body=envelope({"id": "u-100", "first_name": "Asha", "devices": [changed]})),
    ]

    def respond(_seen: Seen) -> Reply:
        return replies.pop(0)

    fake.respond = respond
    try:
        with pipeline(
            tmp_path, database_url, [], lambda _url: roster_yaml(fake.url, AGENTS, SHIFTS)
        ) as p:
            p.start_worker()
            done = p.cli("device", "set-number", "asha", "desk", NEW, "--wait")
            assert done.returncode == 0, done.stdout + done.stderr
            assert done.stdout.startswith(f"succeeded: asha desk number {NEW} (HTTP 200, 3 att")
            assert [(s.method, s.path.split("?")[0].rsplit("/", 1)[-1]) for s in fake.seen] == [
                ("PUT", "100280"),
                ("PUT", "100280"),
                ("GET", "u-100"),
            ]
            assert [(a.request, a.http_code, a.outcome) for a in p.attempts()] == [
                (f"PUT contact_uri={NEW}", None, "retry"),
                (f"PUT contact_uri={NEW}", 409, "final"),
                ("GET user", 200, "ok"),
            ]
            with p.store.sessions() as session:
                state = session.get_one(DeviceState, ("main", "u-100", "100280"))
                cached = session.get(ResolvedDevice, ("main", NEW))
            assert (state.contact_uri, state.available) == (NEW, None)
            assert cached is not None and cached.device_id == "100280"
    finally:
        fake.close()


@pytest.mark.integration
def test_the_stored_roster_follows_a_number_change_as_a_new_version(world: Pipeline) -> None:
    p = world
    p.import_roster()
    p.env["SHIFTSWITCH_ROSTER_SOURCE"] = "db"
    p.roster_path.unlink()  # the stored roster is the only one
    p.start_worker()
    queued = p.cli("device", "set-number", "asha", "mobile", NEW)
    assert queued.returncode == 0, queued.stderr
    assert queued.stderr.splitlines()[-1] == (
        f"once it succeeds, the stored roster gives asha mobile as {NEW}"
    )
    (action,) = p.settle()
    assert action.status == Status.SUCCEEDED
    versions = json.loads(p.cli("roster", "versions", "--json").stdout)
    assert [(v["number"], v["by"], v["source"], v["stored"]) for v in versions] == [
        (1, "tests", "tests", False),
        (2, "shiftswitch worker", "device set-number asha mobile (action 1)", True),
    ]
    assert versions[1]["summary"] == "agents ~1 (asha)"
    exported = parse_roster(p.cli("roster", "export").stdout)
    assert exported.agents["asha"].devices["mobile"].ref == NEW
    assert exported.agents["asha"].devices["desk"].ref == "100280"  # the rest as it was
    assert exported.shifts == roster(p.sandbox.url).shifts
    # verified again, the device is switched by its new number, found through the cache
    p.control("PUT", "devices/acme_corp/u-100/100290", {"verified": True})
    on = p.cli("device", "on", "asha", "mobile", "--wait")
    assert on.returncode == 0, on.stderr
    assert p.device("u-100", "100290")["available"] is True
    assert [r["method"] for r in p.sandbox_log()] == ["GET", "PUT", "PUT"]
    # waiting for a change, the command says which version gives the new number
    again = p.cli("device", "set-number", "asha", "mobile", OLD, "--wait")
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[2] == (
        f"stored roster version 3 gives asha mobile as {OLD} (agents ~1 (asha))"
    )
    assert parse_roster(p.cli("roster", "export").stdout) == parse_roster(
        p.cli("roster", "export", "--version", "1").stdout
    )


@pytest.mark.integration
def test_a_worker_not_on_the_stored_roster_leaves_it_and_the_command_says_so(
    world: Pipeline,
) -> None:
    p = world
    p.import_roster()
    p.start_worker()  # its roster source is the file
    p.env["SHIFTSWITCH_ROSTER_SOURCE"] = "db"
    done = p.cli("device", "set-number", "asha", "mobile", NEW, "--wait")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[2] == (
        f"the stored roster still gives asha mobile as {OLD}: the worker did not change it "
        "(its SHIFTSWITCH_ROSTER_SOURCE is not db, or its log says why: roster_not_renumbered); "
        "until it is changed ('shiftswitch roster "
        "export', edit, 'roster import'), switches of asha mobile look for the old number and fail"
    )
    assert len(json.loads(p.cli("roster", "versions", "--json").stdout)) == 1


def test_a_stored_roster_that_no_longer_gives_the_old_number_is_left_as_it_is() -> None:
    """Between recording the change and its success, another write gave the device anew."""
    r = roster()
    renumbered_roster = parse_roster(renumbered(r, "asha", "mobile", OLD, NEW))
    assert renumbered_roster.agents["asha"].devices["mobile"].ref == NEW
    assert renumbered_roster.agents["asha"].devices["mobile"].kind == "tel"
    assert dataclasses.replace(
        renumbered_roster, agents=r.agents, warnings=()
    ) == dataclasses.replace(r, warnings=())
    edited = parse_roster(renumbered(r, "asha", "mobile", OLD, RAVIS))
    assert renumbered(edited, "asha", "mobile", OLD, NEW) == dump(edited)
    gone = dataclasses.replace(r, agents=MappingProxyType({"meera": r.agents["meera"]}))
    assert renumbered(gone, "asha", "mobile", OLD, NEW) == dump(gone)


def test_a_stored_roster_the_worker_cannot_write_fails_nothing(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The change succeeded in Exotel: a failure to write the stored roster is logged, and
    the roster is left as it was."""
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    store = RosterStore(engine)
    text = roster_yaml("http://127.0.0.1:8090", AGENTS, SHIFTS)
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
