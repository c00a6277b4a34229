"""``POST /api/v1/roster/import-shifts``: a WFM export into the stored roster, its diff first
with ``dry_run``, a shipped mapping by name, every bad row named and nothing changed; and an
agent's calendar feed, opened by its key."""

from __future__ import annotations

import json
from typing import Any

import icalendar

from shiftswitch.access import Role
from tests.api import (  # noqa: F401 - world_fixture: the module's fixture, world
    NOW,
    ApiWorld,
    world_fixture,
)

# Tuesday 1 December 2026, in the roster's zone; ravi's desk, with a lunch break.
WEEK = (
    "EmployeeID,StartTime,EndTime,ActivityName,TimeZone\n"
    "u-101,01/12/2026 09:00,01/12/2026 13:00,Phone,Asia/Kolkata\n"
    "u-101,01/12/2026 13:00,01/12/2026 13:30,Lunch,Asia/Kolkata\n"
    "u-101,01/12/2026 13:30,01/12/2026 18:00,Phone,Asia/Kolkata\n"
)


def post(w: ApiWorld, body: str, role: Role = Role.OPERATOR, **params: Any) -> Any:
    return w.post(
        "/roster/import-shifts",
        role,
        content=body.encode(),
        params={"mapping": "verint", "name": "week.csv", **params},
        headers={"content-type": "text/csv"},
    )


def versions(w: ApiWorld) -> int:
    return len(w.get("/roster/versions").json())


def test_a_dry_run_then_the_import_as_a_new_version(world: ApiWorld) -> None:
    count = versions(world)
    dry = post(world, WEEK, dry_run="true")
    assert dry.status_code == 200, dry.text
    answer = dry.json()
    assert answer["dry_run"] and answer["version"] is None
    assert answer["agents"] == [{"agent": "ravi", "added": 2, "removed": 0, "changed": 0}]
    assert answer["switches"] == {
        "from": "2026-12-01T03:30:00Z", "to": "2026-12-02T03:30:00Z", "added": 4, "removed": 0,
    }  # fmt: skip
    assert [(t["local"][11:16], t["available"]) for t in answer["added"]] == [
        ("09:00", True), ("13:00", False), ("13:30", True), ("18:00", False),
    ]  # fmt: skip
    assert versions(world) == count

    done = post(world, WEEK)
    assert done.status_code == 200, done.text
    assert done.json()["version"] == count + 1
    latest = world.get("/roster/versions").json()[-1]
    assert latest["source"] == "import-shifts week.csv" and latest["by"].startswith("token")
    assert 'activity: "Lunch"' in world.get("/roster/export").text


def test_a_viewer_may_not_import(world: ApiWorld) -> None:
    assert post(world, WEEK, Role.VIEWER).status_code == 403


def test_every_bad_row_is_named_and_nothing_changes(world: ApiWorld) -> None:
    before = world.get("/roster/export").text
    bad = WEEK.replace("13:00,Phone", "25:00,Phone").replace("Lunch", "Nap")
    answer = post(world, bad)
    assert answer.status_code == 422
    body = answer.json()
    assert body["error"] == "week.csv: 2 problems; import refused"
    assert body["problems"] == [
        "week.csv:2: column EndTime: '01/12/2026 25:00' is not a date and time such as "
        "07/12/2026 09:00",
        "week.csv:3: column ActivityName: unknown activity 'Nap'; list it under on (working "
        "time) or off (a break) in the mapping",
    ]
    assert world.get("/roster/export").text == before


def test_a_bad_mapping_or_format_is_refused(world: ApiWorld) -> None:
    answer = post(world, WEEK, mapping="match: email\n")
    assert answer.status_code == 422
    assert answer.json()["problems"] == ["mapping:1: match: 'email' is not name or user_id"]
    assert post(world, WEEK, format="xls").status_code == 400  # a query the API refuses


# -- the calendar feed ---------------------------------------------------------------------------


def test_an_agents_calendar_feed_opens_with_its_key_only(world: ApiWorld) -> None:
    access = world.services.access
    key = access.new_calendar_key("asha", by="test", now=NOW)
    answer = world.client.get("/calendar/asha.ics", params={"key": key})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/calendar; charset=utf-8"
    cal = icalendar.Calendar.from_ical(answer.content)
    uids = [str(e["UID"]) for e in cal.walk("VEVENT")]
    assert "asha-day-20261130@shiftswitch" in uids  # the roster's day shift, this Monday
    assert key not in world.dump()  # stored as a digest only

    wrong = world.client.get("/calendar/asha.ics", params={"key": key[:-2] + "xx"})
    other = world.client.get("/calendar/ravi.ics", params={"key": key})
    missing = world.client.get("/calendar/asha.ics")
    assert wrong.status_code == other.status_code == missing.status_code == 404

    newer = access.new_calendar_key("asha", by="test", now=NOW)
    assert world.client.get("/calendar/asha.ics", params={"key": key}).status_code == 404
    assert world.client.get("/calendar/asha.ics", params={"key": newer}).status_code == 200
    assert access.revoke_calendar_key("asha")
    assert world.client.get("/calendar/asha.ics", params={"key": newer}).status_code == 404


# -- the audit ------------------------------------------------------------------------------------


def test_api_and_console_changes_are_audited_and_read_by_admins(world: ApiWorld) -> None:
    assert post(world, WEEK, dry_run="false").status_code == 200  # an import by a token
    browser, _csrf = world.login("otto")  # a console login
    assert (
        browser.post("/api/v1/login", json={"name": "otto", "password": "wrong"}).status_code == 401
    )
    rows = world.get("/audit", Role.ADMIN).json()
    kinds = {"login failed", "login", "roster import-shifts"}
    seen = [(r["who"], r["via"], r["what"]) for r in rows if r["what"] in kinds][:3]
    assert seen == [
        ("otto", "api", "login failed"),
        ("otto", "api", "login"),
        ("token operator-system (api)", "api", "roster import-shifts"),
    ]
    assert world.get("/audit").status_code == 403  # a viewer
    assert "correct-horse" not in json.dumps(rows)


def test_a_reconcile_is_audited(
    world: ApiWorld,
) -> None:
    assert world.post("/reconcile", json={}).status_code == 200
    rows = world.get("/audit", Role.ADMIN).json()
    assert (rows[0]["who"], rows[0]["via"], rows[0]["what"]) == (
        "token operator-system (api)", "api", "reconcile",
    )  # fmt: skip
    assert rows[0]["after"].endswith("actions sent")
