"""``device set-number``: a device's new number, through the task path to the sandbox.

The command as a user runs it, a real worker process and the sandbox. The pure parts (the
check of the number, the action, the refusals' wording) are in ``tests/unit/test_numbers.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from shiftswitch.broker import CeleryDispatcher, make_celery
from shiftswitch.manual import manual_action
from shiftswitch.models import DeviceState, ResolvedDevice, Status
from shiftswitch.numbers import number_action
from shiftswitch.roster.loader import parse_roster
from shiftswitch.settings import Settings
from tests.pipeline import Pipeline, SharedWorker, pipeline
from tests.renumbering import ASHA, MEERA, NEW, OLD, RAVI, RAVIS, roster, roster_at
from tests.scripted_exotel import DEVICE, FakeExotel, Reply, Seen, envelope, failure

WARNING = (
    "Exotel stops routing calls to the old number at once, and routes none to the new one "
    "until the device is verified again"
)


@pytest.fixture
def world(tmp_path: Path, postgres_url: str, shared_worker: SharedWorker) -> Iterator[Pipeline]:
    with pipeline(
        tmp_path, postgres_url, [ASHA, RAVI, MEERA], roster_at, shared=shared_worker
    ) as p:
        yield p


@pytest.fixture
def world_own_workers(tmp_path: Path, postgres_url: str) -> Iterator[Pipeline]:
    with pipeline(tmp_path, postgres_url, [ASHA, RAVI, MEERA], roster_at) as p:
        yield p


@pytest.fixture
def world_each_database(
    tmp_path: Path, database_url: str, worker_for: Callable[[str], SharedWorker | None]
) -> Iterator[Pipeline]:
    users = [ASHA, RAVI, MEERA]
    with pipeline(tmp_path, database_url, users, roster_at, shared=worker_for(database_url)) as p:
        yield p


def _roster_line(p: Pipeline, text: str) -> int:
    lines = p.roster_path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def test_set_number_then_the_next_switch_finds_the_device(world_each_database: Pipeline) -> None:
    p = world_each_database
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


def test_number_changes_neither_supersede_nor_block_switches(
    world_each_database: Pipeline,
) -> None:
    """A later number change is no later switch, and a failed one is no failed OFF (the
    worker's checks in SQL, on each database)."""
    p = world_each_database
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


def test_a_409_for_a_change_already_made_is_the_change_done(
    tmp_path: Path, postgres_url: str, shared_worker: SharedWorker
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
        roster = lambda _url: roster_at(fake.url)  # noqa: E731
        with pipeline(tmp_path, postgres_url, [], roster, shared=shared_worker) as p:
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


def test_the_stored_roster_follows_a_number_change_as_a_new_version(
    world_own_workers: Pipeline,
) -> None:
    p = world_own_workers
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
