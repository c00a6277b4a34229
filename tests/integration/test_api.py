"""The HTTP API in this process over real PostgreSQL and Redis: each endpoint for the role it
needs, every write refused to a role below it, no answer without credentials, and each change
recorded with who made it."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shiftswitch.access import Role
from shiftswitch.api.limits import OTHER_BODY, ROSTER_BODY, Gate
from shiftswitch.models import Action, DeviceState, Hold, Pause
from tests.api import (  # noqa: F401 - world_fixture: the module's fixture, world
    EXOTEL_ENV,
    NOW,
    ApiWorld,
    roster,
    world_fixture,
)

# (method, path, body) of every endpoint that changes something, by the role it needs.
OPERATOR_WRITES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/agents/asha/devices/desk/on", {}),
    ("POST", "/agents/asha/devices/desk/off", {"until": "2026-11-30T12:00"}),
    ("POST", "/agents/asha/devices/desk/number", {"number": "+919900000999"}),
    ("POST", "/overrides", {"agent": "ravi", "off": True, "from": "now", "to": "2026-12-01"}),
    ("DELETE", "/overrides/1", None),
    ("POST", "/pause", {}),
    ("POST", "/resume", {}),
    ("POST", "/reconcile", {}),
]
ADMIN_WRITES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/roster/import", None),  # a YAML body: see send()
    ("POST", "/roster/rollback/1", None),
    ("POST", "/users", {"name": "mallory", "role": "admin", "password": "x" * 20}),
    ("DELETE", "/users/vera", None),
    ("POST", "/tokens", {"name": "mallory", "role": "admin"}),
    ("DELETE", "/tokens/viewer-system", None),
]
ADMIN_READS = [("GET", "/users", None), ("GET", "/tokens", None)]
READS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/status", None),
    ("GET", "/history", None),
    ("GET", "/plan", None),
    ("GET", "/agents/asha", None),
    ("GET", "/health", None),
    ("GET", "/roster/export", None),
    ("GET", "/roster/versions", None),
    ("GET", "/overrides", None),
    ("GET", "/me", None),
    ("GET", "/reports/adherence", None),
    ("GET", "/boundaries", None),
    ("POST", "/roster/validate", None),
    ("POST", "/roster/diff", None),
    ("POST", "/logout", {}),
]
EVERY = READS + OPERATOR_WRITES + ADMIN_READS + ADMIN_WRITES


def send(w: ApiWorld, method: str, path: str, body: dict[str, Any] | None, **headers: str) -> Any:
    url = f"/api/v1{path}"
    if path.startswith("/roster/") and method == "POST" and "rollback" not in path:
        headers["content-type"] = "application/yaml"
        return w.client.request(method, url, content=roster(w.sandbox.url), headers=headers)
    return w.client.request(method, url, json=body, headers=headers)


def error(answer: Any, status: int) -> str:
    assert answer.status_code == status, answer.text
    found = answer.json()
    assert set(found) >= {"error"} and isinstance(found["error"], str), found
    return str(found["error"])


def versions(w: ApiWorld) -> list[dict[str, Any]]:
    answer = w.get("/roster/versions")
    assert answer.status_code == 200
    return list(answer.json())


# -- who may ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body"), EVERY, ids=[f"{m} {p}" for m, p, _ in EVERY])
def test_without_credentials_every_endpoint_answers_401(
    world: ApiWorld, method: str, path: str, body: dict[str, Any] | None
) -> None:
    answer = send(world, method, path, body)
    assert "no credentials" in error(answer, 401)
    assert answer.headers["www-authenticate"] == "Bearer"


def test_only_the_documentation_is_open(world: ApiWorld) -> None:
    assert world.client.get("/api/openapi.json").status_code == 200
    assert "paths" in world.client.get("/api/openapi.json").json()
    assert world.client.get("/api/docs").status_code == 200


@pytest.mark.parametrize("scheme", ["Bearer ssw_not-a-token", "Basic dXNlcjpwdw==", "Bearer  "])
def test_a_bad_authorization_header_answers_401(world: ApiWorld, scheme: str) -> None:
    answer = world.client.get("/api/v1/status", headers={"Authorization": scheme})
    error(answer, 401)
    world.forget_failures()


WRITES = OPERATOR_WRITES + ADMIN_WRITES + ADMIN_READS


def test_each_change_asked_is_logged_once_answered_with_its_status(
    world: ApiWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="shiftswitch.api")
    assert world.post("/pause", Role.VIEWER, json={}).status_code == 403
    assert world.post("/pause", Role.OPERATOR, json={}).status_code == 200
    assert world.get("/status").status_code == 200  # a read: not logged
    changes = [r.getMessage() for r in caplog.records if "api_change" in r.getMessage()]
    assert len(changes) == 2, changes
    assert "by='token viewer-system (api)'" in changes[0] and "status=403" in changes[0]
    assert "by='token operator-system (api)'" in changes[1] and "status=200" in changes[1]
    assert world.post("/resume", json={}).status_code == 200  # the module's world as it was


@pytest.mark.parametrize(("method", "path", "body"), WRITES, ids=[f"{m} {p}" for m, p, _ in WRITES])
def test_a_viewer_may_change_nothing(
    world: ApiWorld, method: str, path: str, body: dict[str, Any] | None
) -> None:
    before = (world.queued(), world.dump())
    answer = send(world, method, path, body, **world.auth(Role.VIEWER))
    assert "viewer-system has the role viewer; this needs" in error(answer, 403)
    # ... and nothing changed but the token's last use
    assert world.queued() == before[0]
    assert _without_last_use(world.dump()) == _without_last_use(before[1])


ADMIN_ONLY = ADMIN_WRITES + ADMIN_READS


@pytest.mark.parametrize(
    ("method", "path", "body"), ADMIN_ONLY, ids=[f"{m} {p}" for m, p, _ in ADMIN_ONLY]
)
def test_an_operator_may_not_import_roll_back_or_manage_users_and_tokens(
    world: ApiWorld, method: str, path: str, body: dict[str, Any] | None
) -> None:
    answer = send(world, method, path, body, **world.auth(Role.OPERATOR))
    assert "this needs admin or above" in error(answer, 403)


def _without_last_use(dump: str) -> str:
    # a token's last use is the one thing a refused request may change
    tables = json.loads(dump)
    tables.pop("api_tokens", None)
    return json.dumps(tables)


# -- reading ------------------------------------------------------------------------------------


def test_status_plan_and_an_agents_page(world: ApiWorld) -> None:
    status = world.get("/status")
    assert status.status_code == 200
    assert status.json()["at"] == "2026-11-30T10:00:00Z"
    plan = world.get("/plan", params={"from": "2026-11-30T13:00", "hours": 2})
    assert plan.status_code == 200
    assert [(t["at"], t["agent"], t["available"]) for t in plan.json()] == [
        ("2026-11-30T14:00:00Z", "ravi", True)
    ]
    assert world.get("/plan", params={"hours": 0.5}).json() == []
    page = world.get("/agents/asha")
    assert page.status_code == 200
    found = page.json()
    assert [d["device"] for d in found["devices"]] == ["desk", "mobile"]
    assert [s["name"] for s in found["shifts"]] == ["day"]
    assert set(found) >= {"overrides", "holds", "next", "actions"}


def test_status_counts_the_devices_on_lists_a_page_or_leaves_them_out(world: ApiWorld) -> None:
    since = world.clock.now() - timedelta(hours=1)
    ons = [("main", f"u-{i}", f"d-{i}", f"agent{i:02d}") for i in range(12)]
    ons.append(("north", "u-n", "d-n", "nadia"))
    with Session(world.engine) as session, session.begin():
        for account, uid, did, agent in ons:
            session.add(DeviceState(account=account, user_id=uid, device_id=did, agent=agent,
                                    device="desk", available=True, confirmed_at=since))  # fmt: skip
    try:
        whole = world.get("/status").json()
        assert len(whole["on"]) == whole["on_count"] == 13
        assert whole["on_by_account"] == {"main": 12, "north": 1}
        summary = world.get("/status", params={"summary": 1})
        assert "on" not in summary.json() and summary.json()["on_count"] == 13
        assert summary.json()["on_by_account"] == whole["on_by_account"]
        assert {k: v for k, v in summary.json().items() if k != "on"} == {
            k: v for k, v in whole.items() if k != "on"
        }
        page = world.get("/status", params={"limit": 5, "offset": 10}).json()
        assert [o["agent"] for o in page["on"]] == ["agent10", "agent11", "nadia"]
        assert page["on_count"] == 13
        assert error(world.get("/status", params={"limit": 0}), 400).startswith("limit: ")
        assert error(world.get("/status", params={"summary": "perhaps"}), 400).startswith(
            "summary: "
        )
    finally:
        with Session(world.engine) as session, session.begin():
            session.execute(delete(DeviceState))


@pytest.mark.parametrize(
    ("path", "params", "status", "place"),
    [
        ("/agents/nobody", {}, 404, "agent: "),
        ("/plan", {"hours": -1}, 400, "hours: "),
        ("/plan", {"hours": "many"}, 400, "hours: "),
        ("/plan", {"hours": "nan"}, 400, "hours: "),
        ("/plan", {"from": "yesterday"}, 400, "from: "),
        ("/plan", {"from": "0001-01-01T00:00"}, 400, "from: "),
        ("/history", {"limit": 0}, 400, "limit: "),
        ("/history", {"limit": 10**9}, 400, "limit: "),
        ("/history", {"offset": -1}, 400, "offset: "),
        ("/history", {"status": "bogus"}, 400, "status: "),
        ("/history", {"source": "bogus"}, 400, "source: "),
        ("/history", {"from": "soon"}, 400, "from: "),
        ("/history", {"to": "2026-13-01"}, 400, "to: "),
        ("/history", {"agent": "as\x00ha"}, 400, "a value in the request cannot be used"),
        ("/roster/export", {"version": 999}, 404, "no roster version 999"),
        ("/roster/export", {"version": 0}, 400, "version: "),
        ("/roster/export", {"version": "one"}, 400, "version: "),
        ("/overrides", {"all": "perhaps"}, 400, "all: "),
        ("/reports/adherence", {"from": "Monday"}, 400, "from: "),
        ("/reports/adherence", {"from": "2026-11-30", "to": "2026-11-01"}, 400, "to: "),
        ("/reports/adherence", {"by": "week"}, 400, "by: "),
        ("/reports/adherence", {"from": "0001-01-01"}, 400, "from: "),
        ("/reports/adherence", {"to": "9999-12-31"}, 400, "to: "),
        ("/reports/adherence", {"format": "pdf"}, 400, "format: "),
        ("/reports/adherence", {"agent": "nobody"}, 400, "agent: "),
    ],
)
def test_bad_queries_are_refused_naming_the_place(
    world: ApiWorld, path: str, params: dict[str, Any], status: int, place: str
) -> None:
    assert error(world.get(path, params=params), status).startswith(place)


def test_boundaries_are_a_few_rows_counted_per_account(world: ApiWorld) -> None:
    found = world.get("/boundaries").json()
    assert found["at"] == "2026-11-30T10:00:00Z" and found["recorded"] == []
    # Monday 14:00 ravi's late shift starts; 18:00 asha's day shift ends; 22:00 ravi's ends
    assert [(b["at"], b["account"], b["ons"], b["offs"]) for b in found["next"]] == [
        ("2026-11-30T14:00:00Z", "main", 1, 0), ("2026-11-30T18:00:00Z", "main", 0, 1),
        ("2026-11-30T22:00:00Z", "main", 0, 1),
    ]  # fmt: skip
    assert {"due", "confirmed", "failed", "blocked", "to_go", "progress", "late_p50_s"} <= set(
        found["next"][0]
    )


def test_the_adherence_report_in_json_csv_and_xlsx(world: ApiWorld) -> None:
    world.clock.set(NOW + timedelta(days=1, hours=2))  # Tuesday noon: the roster of Monday's
    try:
        params = {"from": "2026-12-01", "to": "2026-12-01", "by": "day"}
        rows = world.get("/reports/adherence", params=params).json()
        assert [(r["agent"], r["day"], r["planned_s"], r["confirmed_s"]) for r in rows] == [
            ("asha", "2026-12-01", 3 * 3600, 0)  # her 09:00 shift up to now; never confirmed
        ]
        assert rows[0]["adherence"] == 0.0 and rows[0]["late_starts"] == 1
        got = world.get("/reports/adherence", params={**params, "format": "csv"})
        assert got.headers["content-type"].startswith("text/csv")
        assert got.text.splitlines()[0].startswith("agent,device,account,day,zone,planned_s")
        got = world.get("/reports/adherence", params={**params, "format": "xlsx"})
        assert "attachment" in got.headers["content-disposition"]
        sheet = load_workbook(io.BytesIO(got.content))["Adherence"]
        assert [c.value for c in sheet[2]][:6] == ["asha", "desk", "main", datetime(2026, 12, 1),
                                                   "UTC", 10800]  # fmt: skip
    finally:
        world.clock.set(NOW)


def test_health_gives_each_check_and_503_when_one_fails(world: ApiWorld) -> None:
    answer = world.get("/health")
    assert answer.status_code == 503  # no worker answers
    checks = {c["name"]: c for c in answer.json()}
    assert set(checks) == {"database", "redis", "roster", "workers"}
    assert checks["database"]["ok"] and checks["redis"]["ok"] and checks["roster"]["ok"]
    assert not checks["workers"]["ok"]


# -- switching ----------------------------------------------------------------------------------


def test_a_switch_is_queued_for_a_worker_and_a_hold_records_who_asked(world: ApiWorld) -> None:
    before = world.queued()
    on = world.post("/agents/asha/devices/mobile/on")
    assert on.status_code == 202, on.text
    assert on.json()["source"] == "manual" and on.json()["status"] == "queued"
    off = world.post("/agents/ravi/devices/desk/off",
                     json={"until": "2026-11-30T16:00", "reason": "coaching session"})  # fmt: skip
    assert off.status_code == 202, off.text
    number = world.post("/agents/ravi/devices/desk/number", json={"number": "+919900000777"})
    assert number.status_code == 202, number.text
    assert number.json()["kind"] == "number"
    assert number.json()["new_contact_uri"] == "+919900000777"
    assert world.queued() == before + 3  # a Celery message for each, in the broker's queue

    with Session(world.engine) as session:
        hold = session.scalars(select(Hold).where(Hold.agent == "ravi")).one()
        assert hold.created_by == "token operator-system (api)"
        assert hold.until == NOW.replace(hour=16)
        assert not hold.available and hold.reason == "coaching session"
        action = session.get_one(Action, off.json()["id"])
        assert action.source == "manual" and action.agent == "ravi"

    page = world.get("/agents/ravi").json()
    assert [(h["device"], h["by"]) for h in page["holds"]] == [
        ("desk", "token operator-system (api)")
    ]
    assert page["actions"][0]["id"] == number.json()["id"]


def test_history_filters_and_pages(world: ApiWorld) -> None:
    world.post("/agents/asha/devices/desk/on")
    world.post("/agents/asha/devices/desk/off")
    every = world.get("/history", params={"limit": 1000}).json()
    assert len(every) >= 2
    asha = world.get("/history", params={"agent": "asha", "device": "desk"}).json()
    assert asha and {(a["agent"], a["device"]) for a in asha} == {("asha", "desk")}
    manual = world.get("/history", params={"source": "manual", "status": "queued"}).json()
    assert manual and {(a["source"], a["status"]) for a in manual} == {("manual", "queued")}
    assert world.get("/history", params={"status": "failed"}).json() == []
    first, second = (world.get("/history", params={"limit": 1, "offset": n}).json() for n in (0, 1))
    assert [first[0]["id"], second[0]["id"]] == [every[0]["id"], every[1]["id"]]
    window = {"from": "2026-11-30T09:00", "to": "2026-11-30T11:00"}
    assert len(world.get("/history", params=window | {"limit": 1000}).json()) == len(every)
    later = {"from": "2026-11-30T10:00:01Z"}
    assert world.get("/history", params=later).json() == []


@pytest.mark.parametrize(
    ("path", "body", "status", "start"),
    [
        ("/agents/nobody/devices/desk/on", {}, 404, ""),
        ("/agents/asha/devices/phone/on", {}, 404, 'agent "asha" has no device "phone"'),
        ("/agents/asha/devices/desk/off", {"until": "tomorrow"}, 400, "until: "),
        ("/agents/asha/devices/desk/off", {"until": "2026-11-29T09:00"}, 400, "until: "),
        ("/agents/asha/devices/desk/off", {"until": "9999-12-31T00:00"}, 400, "until: "),
        (
            "/agents/asha/devices/desk/off",
            {"until": "2026-11-30T16:00", "reason": "x" * 201},
            400,
            "reason: ",
        ),
        ("/agents/asha/devices/desk/off", {"until": 12}, 400, "until: "),
        ("/agents/asha/devices/desk/on", {"wait": "maybe"}, 400, "wait: "),
        ("/agents/asha/devices/desk/on", {"timeout": 0}, 400, "timeout: "),
        ("/agents/asha/devices/desk/on", {"hold": True}, 400, "hold: "),
        ("/agents/asha/devices/desk/number", {}, 400, "number: "),
        ("/agents/asha/devices/desk/number", {"number": "12345"}, 400, ""),
        ("/agents/nobody/devices/desk/number", {"number": "+919900000999"}, 404, ""),
        ("/pause", {"account": "other"}, 404, "account: unknown account"),
        ("/pause", {"acount": "main"}, 400, "acount: "),
        ("/pause", [1], 400, "body: "),
        ("/reconcile", {"remote": "yes please"}, 400, "remote: "),
    ],
)
def test_bad_switches_and_bodies_are_refused_naming_the_place(
    world: ApiWorld, path: str, body: Any, status: int, start: str
) -> None:
    before = world.queued()
    assert error(world.post(path, json=body), status).startswith(start)
    assert world.queued() == before


@pytest.mark.parametrize(
    ("content", "kind", "status", "start"),
    [
        ("{not json", "application/json", 400, "the body is not JSON"),
        ('{"account": "main"', "application/json", 400, "the body is not JSON"),
        ('{"account": "main"}', "text/plain", 415, "send JSON"),
        ("account=main", "application/x-www-form-urlencoded", 415, "send JSON"),
    ],
)
def test_a_body_not_json_is_refused(
    world: ApiWorld, content: str, kind: str, status: int, start: str
) -> None:
    answer = world.post("/pause", content=content, headers={"content-type": kind})
    assert error(answer, status).startswith(start)
    assert not world.get("/status").json().get("paused")


def test_a_wait_that_runs_out_answers_504(world: ApiWorld) -> None:
    answer = world.post("/agents/asha/devices/mobile/off", json={"wait": True, "timeout": 1})
    assert "is a worker running?" in error(answer, 504)


def test_callers_waiting_for_results_never_starve_other_requests(world: ApiWorld) -> None:
    """More waiting callers than the server has threads (no worker: each waits until its
    timeout), and a status asked meanwhile is answered at once."""
    with ThreadPoolExecutor(48) as pool:
        waits = [
            pool.submit(
                world.post, "/agents/asha/devices/mobile/off", json={"wait": True, "timeout": 3}
            )
            for _ in range(45)
        ]
        time.sleep(0.5)  # let them all start waiting
        started = time.monotonic()
        assert world.get("/status").status_code == 200
        took = time.monotonic() - started
        assert all(w.result().status_code == 504 for w in waits)
    assert took < 2, took  # not after the waits time out (3 s)


# -- pause, resume, reconcile -------------------------------------------------------------------


def test_pause_holds_switches_back_and_resume_supersedes_them(world: ApiWorld) -> None:
    paused = world.post("/pause", json={"account": "main"})
    assert paused.status_code == 200, paused.text
    assert paused.json() == {"account": "main", "paused": True, "already": False}
    with Session(world.engine) as session:
        pause = session.scalars(select(Pause).where(Pause.account == "main")).one()
        assert pause.paused_by == "token operator-system (api)"
    before = world.queued()
    held = world.post("/agents/asha/devices/desk/on")
    assert held.status_code == 202
    assert held.json()["paused"] is True and "sending is paused" in held.json()["message"]
    assert world.queued() == before
    world.clock.advance(timedelta(seconds=1))
    try:
        resumed = world.post("/resume", json={"account": "main"})
    finally:
        world.clock.set(NOW)
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["resumed"][0]["by"] == "token operator-system (api)"
    assert resumed.json()["superseded"] >= 1
    again = world.post("/resume")
    assert "no pause in force" in error(again, 409)


def test_reconcile_enqueues_what_differs(world: ApiWorld) -> None:
    answer = world.post("/reconcile")
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == {"enqueued", "stranded"}


def test_a_remote_reconcile_reads_exotel(world: ApiWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in EXOTEL_ENV:
        monkeypatch.delenv(name, raising=False)

    def recorded() -> tuple[int, int]:
        with Session(world.engine) as session:
            return world.queued(), len(session.scalars(select(Action.id)).all())

    before = recorded()
    missing = world.post("/reconcile", json={"remote": True})
    assert "EXOTEL_MAIN_API_KEY" in error(missing, 503)
    assert recorded() == before  # refused whole: nothing recorded or sent
    for name, value in EXOTEL_ENV.items():
        monkeypatch.setenv(name, value)
    answer = world.post("/reconcile", json={"remote": True})
    assert answer.status_code == 200, answer.text
    assert answer.json()["remote"]["devices"] == 3


# -- the roster and its overrides ---------------------------------------------------------------


def yaml_post(
    w: ApiWorld, path: str, text: str | bytes | Iterator[bytes], role: Role = Role.ADMIN, **kw: Any
) -> Any:
    headers = {"content-type": "application/yaml", **kw.pop("headers", {})}
    return w.post(path, role, content=text, headers=headers, **kw)


def test_validate_diff_import_export_and_roll_back(world: ApiWorld) -> None:
    later = [
        {"name": "day", "start": "0 8 * * mon-fri", "duration": "9h", "members": ["asha:desk"]}
    ]
    text = roster(world.sandbox.url, later)
    valid = yaml_post(world, "/roster/validate", text, Role.VIEWER)
    assert valid.status_code == 200, valid.text
    assert valid.json()["valid"] is True
    diff = yaml_post(world, "/roster/diff", text, Role.VIEWER, params={"hours": 48})
    assert diff.status_code == 200, diff.text
    assert diff.json()["changes"] and diff.json()["against"].startswith("the stored roster")
    count = len(versions(world))

    imported = yaml_post(world, "/roster/import", text)
    assert imported.status_code == 200, imported.text
    assert imported.json()["version"] == count + 1 and not imported.json()["unchanged"]
    latest = versions(world)[-1]
    assert latest["by"] == "token admin-system (api)" and latest["stored"]
    exported = world.get("/roster/export")
    assert exported.headers["content-type"].startswith("application/yaml")
    assert "0 8 * * mon-fri" in exported.text
    assert "0 9 * * mon-fri" in world.get("/roster/export", params={"version": 1}).text

    rolled = world.post("/roster/rollback/1", Role.ADMIN)
    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["version"] == count + 2
    latest = versions(world)[-1]
    assert latest["by"] == "token admin-system (api)" and latest["source"] == "rollback to 1"
    assert "0 9 * * mon-fri" in world.get("/roster/export").text


@pytest.mark.parametrize("path", ["/roster/validate", "/roster/diff", "/roster/import"])
def test_an_invalid_roster_is_refused_with_every_problem(world: ApiWorld, path: str) -> None:
    bad = roster(world.sandbox.url).replace("0 9 * * mon-fri", "0 25 * * mon-fri")
    bad = bad.replace('"duration": "8h"', '"duration": "8 fortnights"')
    count = len(versions(world))
    answer = yaml_post(world, path, bad)
    message = error(answer, 422)
    assert message.startswith("upload: ")
    problems = answer.json()["problems"]
    assert len(problems) >= 2
    assert any("shifts[0].start" in p for p in problems), problems
    assert any("shifts[1].duration" in p for p in problems), problems
    assert len(versions(world)) == count


@pytest.mark.parametrize("path", ["/roster/validate", "/roster/diff", "/roster/import"])
def test_a_roster_sending_the_credentials_to_another_host_is_refused(
    world: ApiWorld, path: str
) -> None:
    count = len(versions(world))
    answer = yaml_post(world, path, roster("http://collector.example:8090"))
    assert error(answer, 422).startswith("upload: ")
    [problem] = answer.json()["problems"]
    assert "accounts.main.base_url: http://collector.example:8090 is not Exotel's" in problem
    assert "SHIFTSWITCH_ALLOWED_BASE_URLS" in problem
    assert len(versions(world)) == count


@pytest.mark.parametrize(
    ("content", "kind", "status", "start"),
    [
        ("version: 1", "application/x-www-form-urlencoded", 415, "send the roster as YAML"),
        ("version: 1", "multipart/form-data; boundary=x", 415, "send the roster as YAML"),
        ("version: 1", "image/png", 415, "send the roster as YAML"),
        ("version: 1", None, 422, "upload: "),  # no type: read as YAML
        ('{"version": 1}', "application/json", 422, "upload: "),  # JSON is YAML
        (b"version: 1\n\xff\xfe", "application/yaml", 400, "upload: cannot read roster"),
        ("", "application/yaml", 422, "upload: "),
        ("- just\n- a list\n", "application/yaml", 422, "upload: "),
        ("a: &a [*a]\n", "application/yaml", 422, "upload: "),
    ],
)
def test_a_bad_upload_is_refused(
    world: ApiWorld, content: str | bytes, kind: str | None, status: int, start: str
) -> None:
    headers = {"content-type": kind} if kind else {}
    answer = world.post("/roster/validate", Role.ADMIN, content=content, headers=headers)
    assert error(answer, status).startswith(start)


def test_uploads_wait_their_turn_and_are_refused_with_retry_after_when_it_does_not_come(
    world: ApiWorld,
) -> None:
    world.services.rosters = Gate("rosters being read", size=1, wait=0.3, retry_after=10)
    text = roster(world.sandbox.url)
    with world.services.rosters.turn():  # another upload is being read
        busy = yaml_post(world, "/roster/validate", text, Role.VIEWER)
    assert error(busy, 429) == "too many rosters being read at once (at most 1); try again in 10 s"
    assert busy.headers["retry-after"] == "10"
    with ThreadPoolExecutor(3) as pool:  # one at a time, each in its turn
        answers = list(pool.map(lambda _: yaml_post(world, "/roster/validate", text), range(3)))
    assert [a.status_code for a in answers] == [200, 200, 200]


def test_password_checks_wait_their_turn_across_every_address(world: ApiWorld) -> None:
    world.services.passwords = Gate("password checks", size=1, wait=0.3, retry_after=2)
    body = {"name": "nobody", "password": "wrong-password-1"}
    with world.services.passwords.turn():
        busy = world.client.post("/api/v1/login", json=body)
    assert error(busy, 429) == "too many password checks at once (at most 1); try again in 2 s"
    assert busy.headers["retry-after"] == "2"
    assert error(world.client.post("/api/v1/login", json=body), 401) == "wrong name or password"


def test_an_over_large_upload_is_refused_before_it_is_read(world: ApiWorld) -> None:
    big = b"#" * (ROSTER_BODY + 1)
    sized = yaml_post(world, "/roster/import", big)
    assert "larger than" in error(sized, 413)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    chunked = yaml_post(world, "/roster/import", chunks())
    assert "larger than" in error(chunked, 413)
    json_body = world.post(
        "/pause", content=b" " * (OTHER_BODY + 1), headers={"content-type": "application/json"}
    )
    assert "larger than" in error(json_body, 413)


@pytest.mark.parametrize(
    ("path", "status", "start"),
    [
        ("/roster/rollback/999", 404, "no roster version 999"),
        ("/roster/rollback/0", 400, "number: "),
        ("/roster/rollback/x", 400, "number: "),
    ],
)
def test_a_bad_rollback_is_refused(world: ApiWorld, path: str, status: int, start: str) -> None:
    assert error(world.post(path, Role.ADMIN), status).startswith(start)


def test_overrides_are_added_listed_and_removed_by_their_author(world: ApiWorld) -> None:
    body = {"agent": "ravi", "device": "desk", "from": "2026-12-01T09:00", "to": "2026-12-01T13:00",
            "reason": "covering the help desk"}  # fmt: skip
    added = world.post("/overrides", json=body)
    assert added.status_code == 201, added.text
    made = added.json()
    assert (made["agent"], made["device"], made["state"]) == ("ravi", "desk", "ahead")
    assert made["reason"] == "covering the help desk" and "(covering the help desk)" in made["text"]
    exported = world.get("/roster/export").text
    assert 'reason: "covering the help desk"}' in exported
    assert world.get("/agents/ravi").json()["overrides"][0]["reason"] == "covering the help desk"
    assert versions(world)[-1]["by"] == "token operator-system (api)"
    listed = world.get("/overrides").json()
    assert [o["id"] for o in listed] == [made["id"]]

    removed = world.client.delete(
        f"/api/v1/overrides/{made['id']}", headers=world.auth(Role.OPERATOR)
    )
    assert removed.status_code == 200, removed.text
    assert removed.json()["cut_at"] is None
    assert versions(world)[-1]["by"] == "token operator-system (api)"
    assert world.get("/overrides").json() == []


LEAVE = {"agent": "asha", "off": True, "from": "now", "to": "2026-12-01"}


@pytest.mark.parametrize(
    ("body", "status", "start"),
    [
        ({"agent": "nobody", "off": True, "from": "now", "to": "2026-12-01"}, 404, ""),
        ({"agent": "asha", "device": "phone", "from": "now", "to": "2026-12-01"}, 404, "device: "),
        ({"agent": "asha", "off": True, "from": "soon", "to": "2026-12-01"}, 400, "from: "),
        ({"agent": "asha", "off": True, "from": "now", "to": "2026-11-01"}, 400, "to: "),
        ({"agent": "asha", "off": True, "from": "2026-12-02", "to": "2026-12-01"}, 400, "to: "),
        ({"agent": "asha", "off": True, "from": "now"}, 400, "to: "),
        ({**LEAVE, "reason": "a\nb"}, 400, "reason: "),
        ({**LEAVE, "reason": "x" * 201}, 400, "reason: "),
        (
            {"agent": "asha", "off": True, "from": "now", "to": "2026-12-01", "why": "x"},
            400,
            "why: ",
        ),
    ],
)
def test_a_bad_override_is_refused(
    world: ApiWorld, body: dict[str, Any], status: int, start: str
) -> None:
    count = len(versions(world))
    assert error(world.post("/overrides", json=body), status).startswith(start)
    assert len(versions(world)) == count


@pytest.mark.parametrize(("path", "status"), [("/overrides/999", 404), ("/overrides/zero", 400)])
def test_removing_an_unknown_override_is_refused(world: ApiWorld, path: str, status: int) -> None:
    error(world.client.delete(f"/api/v1{path}", headers=world.auth(Role.OPERATOR)), status)


def test_an_override_ahead_of_a_later_clock_is_cut(world: ApiWorld) -> None:
    body = {"agent": "asha", "off": True, "from": "now", "to": "2026-11-30T12:00"}
    added = world.post("/overrides", json=body)
    assert added.status_code == 201, added.text
    world.clock.advance(timedelta(minutes=30))
    try:
        removed = world.client.delete(
            f"/api/v1/overrides/{added.json()['id']}", headers=world.auth(Role.OPERATOR)
        )
        assert removed.status_code == 200, removed.text
        assert removed.json()["cut_at"] == "2026-11-30T10:30:00Z"
    finally:
        world.clock.set(NOW)


def test_the_documentation_is_served_from_here_and_names_every_path(world: ApiWorld) -> None:
    page = world.client.get("/api/docs")
    assert page.status_code == 200
    assert "<script" not in page.text  # nothing loaded from elsewhere
    for path in ("/api/v1/status", "/api/v1/agents/{agent}/devices/{device}/on", "/api/v1/pause"):
        assert path in page.text, path
    assert world.client.get("/api/docs.css").headers["content-type"].startswith("text/css")


def test_a_body_without_a_length_is_refused_past_its_limit_with_413(world: ApiWorld) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"account": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}'

    answer = world.post("/pause", content=chunks(), headers={"content-type": "application/json"})
    assert "larger than" in error(answer, 413)
