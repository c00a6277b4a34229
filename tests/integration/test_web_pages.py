"""The console's pages through the application in this process (SQLite, real Redis): every page
renders for each role, each change is refused to a role below it and without the session's CSRF
token, and a refusal is one line on the page. (The browser tests run a real server.)"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from redis import Redis
from sqlalchemy.orm import Session

from shiftswitch.access import AccessStore, Role
from shiftswitch.clock import FixedClock
from shiftswitch.db import make_engine
from shiftswitch.models import Action, DeviceState, Status
from shiftswitch.outages import Outages
from shiftswitch.server import create_app
from shiftswitch.settings import Settings
from shiftswitch.sources.store import RosterStore
from tests.rosters import roster_text
from tests.services import PIPELINE_REDIS_DBS, redis_url

NOW = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)  # 10:30 in Kolkata: the desk-am shift is on
SHIFTS = [
    {"name": "desk-am", "start": "0 9 * * *", "duration": "4h", "members": ["asha:desk", "ravi"]},
    {"name": "mobile-pm", "start": "0 13 * * *", "duration": "4h", "members": ["asha:mobile"]},
]
PASSWORD = "correct horse battery"


@pytest.fixture
def console(sqlite_url: str) -> Iterator[TestClient]:
    redis = redis_url(PIPELINE_REDIS_DBS[-1])
    Redis.from_url(redis).flushdb()
    engine = make_engine(sqlite_url)
    RosterStore(engine).write(
        lambda _before: roster_text(SHIFTS, timezone="Asia/Kolkata"),
        source="tests",
        by="tests",
        now=NOW - timedelta(days=2),  # in force for days: the reports plan them with it
    )
    access = AccessStore(engine)
    for role in Role:
        access.add_user(role.value, role, PASSWORD, by="tests", now=NOW)
    with Session(engine) as session, session.begin():
        session.add_all(
            [
                _action(1, "ravi", "desk", Status.SUCCEEDED, due="03:30:00"),
                _action(
                    2, "asha", "desk", Status.FAILED, due="03:30:00", reason="HTTP 500 from Exotel"
                ),
            ]
        )
        session.add(
            DeviceState(
                account="main", user_id="u-1", device_id="100281", agent="ravi", device="desk",
                available=True, confirmed_at=NOW - timedelta(minutes=59), action_id=1,
            )
        )  # fmt: skip
    engine.dispose()
    settings = Settings(database_url=sqlite_url, redis_url=redis, roster_source="db")
    with TestClient(create_app(settings, FixedClock(NOW)), base_url="http://127.0.0.1") as client:
        yield client
    Redis.from_url(redis).flushdb()


def _action(
    id_: int, agent: str, device: str, status: Status, due: str, reason: str | None = None
) -> Action:
    at = datetime.fromisoformat(f"2026-11-30T{due}+00:00")
    return Action(
        id=id_, key=f"k{id_}", source="schedule", user_key=f"main/u-{id_}", account="main",
        sid="acme", base_url="http://127.0.0.1:8090", rate_limit="50/min", agent=agent,
        device=device, user_id=f"u-{id_}", device_id="100281", wants_on=True, shift="desk-am",
        due_at=at, created_at=at, finished_at=at + timedelta(seconds=2), status=status,
        attempts=1, last_http_code=200 if status == Status.SUCCEEDED else 500, reason=reason,
    )  # fmt: skip


def log_in(client: TestClient, name: str) -> str:
    """Log in as ``name``; the session's CSRF token, from a page's form."""
    reply = client.post("/login", data=login_form(client, name, PASSWORD))
    assert reply.status_code == 200, reply.text
    return csrf_of(client.get("/").text)


def login_form(client: TestClient, name: str, password: str, next: str = "/") -> dict[str, str]:
    """The login form's fields, as the login page gives them (its token with them), to a
    browser with no session (one that has, the page sends on)."""
    client.cookies.clear()
    token = csrf_of(client.get("/login").text, "login_token")
    return {"name": name, "password": password, "next": next, "login_token": token}


def csrf_of(html: str, field: str = "csrf_token") -> str:
    found = re.search(rf'name="{field}" value="([^"]+)"', html)
    assert found
    return found.group(1)


def test_a_page_without_a_session_sends_to_the_login_and_back(console: TestClient) -> None:
    reply = console.get("/timeline?day=2026-11-30", follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"] == "/login?next=/timeline?day=2026-11-30"
    wrong = console.post("/login", data=login_form(console, "viewer", "nope"))
    assert wrong.status_code == 401
    assert "wrong name or password" in wrong.text
    reply = console.post(
        "/login",
        data=login_form(console, "viewer", PASSWORD, "/timeline?day=2026-11-30"),
        follow_redirects=False,
    )
    assert reply.headers["location"] == "/timeline?day=2026-11-30"
    cookie = reply.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    # Never to another site.
    reply = console.post(
        "/login", data=login_form(console, "viewer", PASSWORD, "//evil.example/"),
        follow_redirects=False,
    )  # fmt: skip
    assert reply.headers["location"] == "/"


def test_logins_locked_out_say_when_to_try_again(console: TestClient) -> None:
    for _ in range(5):
        assert console.post("/login", data=login_form(console, "viewer", "no")).status_code == 401
    locked = console.post("/login", data=login_form(console, "viewer", PASSWORD))
    assert locked.status_code == 429 and "too many failed attempts" in locked.text
    assert int(locked.headers["retry-after"]) >= 1  # as the API's 429s


def test_a_login_sent_without_the_forms_token_opens_no_session(console: TestClient) -> None:
    # Another site's form (login CSRF) has neither the page's cookie nor its token.
    fields = {"name": "viewer", "password": PASSWORD, "next": "/"}
    for token in ("", "forged-token"):
        console.cookies.clear()
        reply = console.post("/login", data={**fields, "login_token": token})
        assert reply.status_code == 403
        assert "came from another site" in reply.text
        assert "shiftswitch_session" not in reply.headers.get("set-cookie", "")
    console.cookies.clear()
    shown = login_form(console, "viewer", PASSWORD)  # the page's cookie, another token
    reply = console.post("/login", data={**shown, "login_token": "forged-token"})
    assert reply.status_code == 403
    cookie = console.get("/login").headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/login" in cookie


def test_every_page_renders_for_a_viewer_with_no_button_that_changes_anything(
    console: TestClient,
) -> None:
    log_in(console, "viewer")
    now = console.get("/")
    assert now.status_code == 200
    # ravi is confirmed ON; asha should be ON and is not, because her switch failed.
    assert re.search(r'<tr data-agent="ravi">.*?desk', now.text, re.S)
    assert re.search(
        r'<a href="/agents/asha">asha</a></td><td>desk</td><td><span class="tag failed">failed',
        now.text,
    )
    assert "content-security-policy" in now.headers
    timeline = console.get("/timeline?day=2026-11-30")
    assert timeline.status_code == 200
    assert 'class="bar shift"' in timeline.text and 'class="bar confirmed"' in timeline.text
    assert 'class="mark failed"' in timeline.text
    assert console.get("/timeline?day=2026-11-30&span=week&shift=mobile-pm").status_code == 200
    around = console.get("/timeline?span=now")  # 10:30 in Kolkata: 08:00 to 14:00
    assert around.status_code == 200 and "Mon 30 Nov 2026, 08:00 to 14:00" in around.text
    labels = re.findall(r'<text x="[\d.]+%" y="55%">(\d\d)</text>', around.text)
    assert labels == ["08", "09", "10", "11", "12", "13"]
    assert re.search(r'<line class="now" x1="41\.66+7?%"', around.text)  # 2:30 of 6 hours
    assert 'href="?day=2026-11-29&span=day' in around.text  # earlier: the day before, whole
    for path in ("/agents/asha", "/roster", "/overrides", "/operations", "/roster?a=1&b=1",
                 "/notifications"):  # fmt: skip
        reply = console.get(path)
        assert reply.status_code == 200, (path, reply.text[-500:])
        assert "ON now" not in reply.text and "Add override" not in reply.text
        assert "Import" not in reply.text and "Pause</button>" not in reply.text
    assert console.get("/agents/nobody").status_code == 404


def test_changes_are_refused_to_a_role_below_and_without_the_csrf_token(
    console: TestClient,
) -> None:
    csrf = log_in(console, "viewer")
    forged = console.post(
        "/agents/asha/devices/desk/switch", data={"state": "on", "csrf_token": csrf}
    )
    assert forged.status_code == 403
    assert "viewer has the role viewer; this needs operator or above" in forged.text
    for path, data in (
        ("/overrides", {"agent": "asha", "start": "now", "end": "2026-12-01"}),
        ("/operations/pause", {}),
        ("/overrides/1/remove", {}),
    ):
        assert console.post(path, data={**data, "csrf_token": csrf}).status_code == 403, path
    csrf = log_in(console, "operator")
    no_token = console.post("/agents/asha/devices/desk/switch", data={"state": "on"})
    assert no_token.status_code == 403
    assert "CSRF" in no_token.text
    upload = console.post(
        "/roster/upload",
        data={"csrf_token": csrf},
        files={"file": ("r.yaml", roster_text(SHIFTS, timezone="UTC"), "application/yaml")},
    )
    assert upload.status_code == 403
    assert console.post("/roster/rollback/1", data={"csrf_token": csrf}).status_code == 403


def test_an_operator_switches_holds_adds_overrides_and_sees_a_refusal_in_one_line(
    console: TestClient,
) -> None:
    csrf = log_in(console, "operator")
    page = console.get("/agents/asha")
    assert page.text.count(">ON now<") == 2  # one button per device
    switched = console.post(
        "/agents/asha/devices/desk/switch",
        data={"state": "on", "until": "2026-11-30T20:00", "csrf_token": csrf},
    )
    assert switched.status_code == 200
    assert re.search(
        r"action \d+ sent: asha desk ON, held until 2026-11-30 20:00 IST", switched.text
    )
    added = console.post(
        "/overrides",
        data={
            "agent": "asha",
            "device": "mobile",
            "start": "2026-12-01T09:00",
            "end": "2026-12-01T11:00",
            "reason": "training <room 4>",
            "csrf_token": csrf,
        },
    )
    assert added.status_code == 200
    assert (
        "override 1 added: asha: mobile ON from 2026-12-01T09:00+05:30 to 2026-12-01T11:00+05:30"
        " (training &lt;room 4&gt;)" in added.text
    )
    assert "<td>training &lt;room 4&gt;</td>" in console.get("/overrides").text
    assert ": training &lt;room 4&gt;</li>" in console.get("/agents/asha").text
    refused = console.post(
        "/overrides",
        data={
            "agent": "asha",
            "start": "2026-12-01T10:00",
            "end": "2026-12-01T12:00",
            "csrf_token": csrf,
        },
    )
    assert refused.status_code == 400
    (line,) = re.findall(r'<p class="refusal" role="alert">([^<]*)</p>', refused.text)
    assert "overlaps override 1" in line, line
    bad = console.post(
        "/agents/asha/devices/desk/switch",
        data={"state": "on", "until": "soon", "csrf_token": csrf},
    )
    assert bad.status_code == 400
    assert "until: &#39;soon&#39; is not a date-time after now" in bad.text
    paused = console.post("/operations/pause", data={"account": "main", "csrf_token": csrf})
    assert "sending paused for account main" in paused.text
    assert "Sending is paused for main" in console.get("/").text


def test_the_now_page_says_exotel_is_down_and_why_devices_are_not_on(
    console: TestClient, sqlite_url: str
) -> None:
    engine = make_engine(sqlite_url)
    Outages(engine).begin("main", "500 1004 Internal Server Error", NOW - timedelta(minutes=3))
    engine.dispose()
    log_in(console, "viewer")
    page = console.get("/").text
    assert "Exotel is down for account main since" in page
    assert "500 1004 Internal Server Error" in page
    assert "exotel down" in page  # the reason a device wanted ON is not


def test_an_admin_uploads_sees_problems_or_the_diff_and_imports(console: TestClient) -> None:
    csrf = log_in(console, "admin")
    invalid = console.post(
        "/roster/upload",
        data={"csrf_token": csrf},
        files={"file": ("next.yaml", "version: 1\ntimezone: Mars/Base\n", "application/yaml")},
    )
    assert invalid.status_code == 422
    assert "next.yaml" in invalid.text and "Mars/Base" in invalid.text
    changed = roster_text([{**SHIFTS[0], "start": "0 8 * * *"}, SHIFTS[1]], timezone="Asia/Kolkata")
    compared = console.post(
        "/roster/upload",
        data={"csrf_token": csrf},
        files={"file": ("next.yaml", changed, "application/yaml")},
    )
    assert compared.status_code == 200
    assert "compared with the stored roster (version 1)" in compared.text
    assert "switches added" in compared.text and "desk-am" in compared.text
    imported = console.post(
        "/roster/import", data={"csrf_token": csrf, "text": changed, "name": "next.yaml"}
    )
    assert imported.status_code == 200
    assert "version 2 stored" in imported.text
    diff = console.get("/roster?a=1&b=2")
    assert 'id="versions-diff"' in diff.text and "0 8 * * *" in diff.text
    rolled = console.post("/roster/rollback/1", data={"csrf_token": csrf})
    assert "rolled back to version 1: version 3 stored" in rolled.text
    # The stored version is named as in force, not the file format's "version: 1".
    listed = console.get("/roster").text
    assert '<b id="in-force">version 3</b>' in listed
    assert 'href="/roster?a=3&b=2"' in listed  # a rollback's preview: its diff
    assert "version 3 in force" in console.get("/operations").text


# ravi (user id u-1) on the Monday, in Verint's layout, with lunch: 19:30 to 01:30 in Kolkata.
LUNCH_DAY = (
    "EmployeeID,StartTime,EndTime,ActivityName,TimeZone\n"
    "u-1,30/11/2026 14:00,30/11/2026 16:00,Phone,UTC\n"
    "u-1,30/11/2026 16:00,30/11/2026 16:30,Lunch,UTC\n"
    "u-1,30/11/2026 16:30,30/11/2026 20:00,Phone,UTC\n"
)


def test_an_operator_checks_an_export_then_imports_its_shifts(console: TestClient) -> None:
    csrf = log_in(console, "operator")
    bad = console.post(
        "/roster/import-shifts",
        data={"csrf_token": csrf, "dry_run": "1", "mapping": "verint"},
        files={"file": ("day.csv", LUNCH_DAY.replace("Lunch", "Nap"), "text/csv")},
    )
    assert bad.status_code == 422
    assert "day.csv:3: column ActivityName: unknown activity &#39;Nap&#39;" in bad.text
    checked = console.post(
        "/roster/import-shifts",
        data={"csrf_token": csrf, "dry_run": "1", "mapping": "verint"},
        files={"file": ("day.csv", LUNCH_DAY, "text/csv")},
    )
    assert checked.status_code == 200, checked.text
    assert 'id="shifts-check"' in checked.text
    assert "day.csv compared with the stored roster (version 1)" in checked.text
    assert "<td>ravi</td><td>2</td><td>0</td><td>0</td>" in checked.text  # a shift, a break
    assert "Import these shifts as a new version" in checked.text
    assert console.get("/roster").text.count("version 2") == 0  # nothing stored yet
    imported = console.post(
        "/roster/import-shifts",
        data={"csrf_token": csrf, "text": LUNCH_DAY, "name": "day.csv", "mapping": "verint"},
    )
    assert imported.status_code == 200
    assert "day.csv: version 2 stored" in imported.text
    # The break is a gap in ravi's planned bars, named by its activity.
    page = console.get("/timeline?day=2026-11-30").text
    assert 'class="mark break"' in page and "Lunch: every device OFF" in page


def test_a_viewer_may_not_import_shifts(console: TestClient) -> None:
    csrf = log_in(console, "viewer")
    refused = console.post(
        "/roster/import-shifts",
        data={"csrf_token": csrf, "dry_run": "1", "mapping": "verint"},
        files={"file": ("day.csv", LUNCH_DAY, "text/csv")},
    )
    assert refused.status_code == 403


def test_an_admin_reads_the_audit_and_others_do_not(console: TestClient) -> None:
    csrf = log_in(console, "operator")
    assert console.post("/operations/pause", data={"csrf_token": csrf}).status_code == 200
    assert 'href="/audit"' not in console.get("/").text  # not in an operator's menu
    assert console.get("/audit").status_code == 403
    log_in(console, "admin")
    page = console.get("/audit?who=operator&since=1d")
    assert page.status_code == 200 and 'href="/audit"' in page.text
    assert re.search(r"<td>operator \(api\)</td><td>console</td><td>pause</td>", page.text)
    assert "<td>login</td>" in console.get("/audit?since=1d").text
    assert "is not a duration" in console.get("/audit?since=soon").text


def test_the_reports_page_charts_each_day_and_names_the_worst_agents(console: TestClient) -> None:
    log_in(console, "viewer")
    page = console.get("/reports?from=2026-11-29&to=2026-11-30")
    assert page.status_code == 200 and 'aria-current="page">Reports' in page.text
    assert "Asia/Kolkata" in page.text
    # 29 November: nothing confirmed yet of either shift, asha's and ravi's desks 4 h each; 30
    # November up to 10:30: 1 h 30 min each of desk-am
    assert page.text.count('<g class="bar low">') == 2
    worst = page.text[page.text.index('id="worst"') :]
    assert worst.index(">asha<") < worst.index(">ravi<")  # asha has mobile-pm as well
    csv_file = console.get("/reports/adherence.csv?from=2026-11-29&to=2026-11-30&by=agent")
    assert csv_file.status_code == 200 and "attachment" in csv_file.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(csv_file.text)))
    assert {(r["agent"], r["device"], r["planned_s"]) for r in rows} == {
        ("asha", "desk", str(4 * 3600 + 5400)), ("asha", "mobile", str(4 * 3600)),
        ("ravi", "desk", str(4 * 3600 + 5400)),
    }  # fmt: skip
    xlsx = console.get("/reports/adherence.xlsx?from=2026-11-29&to=2026-11-30")
    assert load_workbook(io.BytesIO(xlsx.content))["Adherence"].max_row == 1 + 5  # 5 by day
    refused = console.get("/reports?from=2026-11-30&to=2026-11-01")
    assert refused.status_code == 200 and "to: 2026-11-01 is before --from" in refused.text


def test_a_hold_is_kept_off_not_a_failure_and_its_end_is_a_next_change(
    console: TestClient,
) -> None:
    csrf = log_in(console, "operator")
    held = console.post(
        "/agents/asha/devices/desk/switch",
        data={"state": "off", "until": "2026-11-30T12:00", "reason": "  training\ncall ",
              "csrf_token": csrf},
    )  # fmt: skip
    assert held.status_code == 200
    now = console.get("/").text
    assert "held OFF by operator (api): training call" in now  # the reason, on one line
    kept = now[now.index('id="kept-off"') :]
    assert ">asha<" in kept[: kept.index("</table>")] and "held OFF by operator" in kept
    assert '<b id="kept-off-count">1</b>' in now
    missing = now[now.index("<h2>Should be ON and are not</h2>") : now.index('id="kept-off"')]
    assert ">asha<" not in missing  # her failed ON is behind a deliberate hold now
    upcoming = now[now.index('id="next"') :]
    upcoming = upcoming[: upcoming.index("</table>")]
    assert "end of hold by operator" in upcoming  # 12:00 IST: desk back ON
    agent = console.get("/agents/asha").text
    assert "end of hold by operator" in agent
    assert "09:00 every day" in agent  # desk-am's cron in words beside it


def test_the_now_page_leads_with_the_boundaries_counted(console: TestClient) -> None:
    log_in(console, "viewer")
    now = console.get("/").text
    boundaries = now[now.index('id="boundaries"') : now.index("</section>", now.index(
        'id="boundaries"'))]  # fmt: skip
    # 09:00 IST: ravi's ON confirmed 2 s late, asha's failed; 13:00 IST next (desk-am ends,
    # mobile-pm starts)
    assert re.search(r'data-account="main">\s*<td><a href="/boundaries/[^"]+"><time[^>]*>09:00'
                     r"</time></a></td><td>main</td><td>2 ON, 0 OFF</td>", boundaries)  # fmt: skip
    assert '<td class="confirmed">1</td><td class="bad failed">1</td>' in boundaries
    assert "2.0 / 2.0 s" in boundaries and "100%" in boundaries
    assert re.search(r">13:00</time></td><td>main</td><td>1 ON, 2 OFF</td>", boundaries)
    assert ">Tue 09:00</time></td><td>main</td><td>2 ON, 0 OFF</td>" in boundaries  # tomorrow
    assert "13:00</time></b> · main · 1 ON, 2 OFF" in now  # next changes, by instant


def test_operations_shows_a_failure_repeated_by_reconciles_once_with_its_count(
    console: TestClient, sqlite_url: str
) -> None:
    engine = make_engine(sqlite_url)
    with Session(engine) as session, session.begin():
        session.add_all([
            _action(10, "asha", "desk", Status.FAILED, "03:20:00", "HTTP 500 from Exotel"),
            _action(11, "asha", "desk", Status.FAILED, "03:25:00", "HTTP 500 from Exotel"),
        ])  # fmt: skip
    engine.dispose()
    log_in(console, "viewer")
    failures = console.get("/operations").text
    failures = failures[failures.index('id="failures"') :]
    assert failures.count("<tr>") == 2  # the header and asha's one row
    assert "3 times since" in failures and "&times;3" in failures
    assert "Exotel failed to answer" in failures  # its advice (HTTP 500)


def test_one_zone_and_one_date_time_style_everywhere(console: TestClient) -> None:
    assert "Times in Asia/Kolkata" in console.get("/login").text  # as on every page after it
    log_in(console, "operator")
    agent = console.get("/agents/asha").text
    assert 'type="datetime-local"' not in agent  # it follows the browser's locale
    assert 'hold until (Asia/Kolkata) <input name="until" placeholder="2026-12-06T19:40"' in agent
    overrides = console.get("/overrides").text
    assert 'list="agent-names"' in overrides and '<option value="ravi">' in overrides
    assert "From (Asia/Kolkata)" in overrides


def test_the_now_page_filters_by_why_a_device_is_not_on(console: TestClient) -> None:
    log_in(console, "viewer")

    def missing(query: str) -> str:
        page = console.get(f"/?{query}").text
        return page[page.index("<h2>Should be ON and are not</h2>") : page.index("<h2>ON now</h2>")]

    assert ">asha<" in missing("reason=failed")
    assert ">asha<" not in missing("reason=drifted")
    assert ">asha<" not in missing("account=south")  # an account with nobody in it


def test_a_ramp_under_way_is_its_boundary_running_before_the_start(
    console: TestClient, sqlite_url: str
) -> None:
    # An ON a ramp sent 20 s ago for a start 40 s from now, confirmed.
    start = NOW + timedelta(seconds=40)
    ramped = _action(3, "asha", "mobile", Status.SUCCEEDED, due="04:59:40")
    ramped.boundary_at, ramped.finished_at = start, NOW - timedelta(seconds=19)
    engine = make_engine(sqlite_url)
    with Session(engine) as session, session.begin():
        session.add(ramped)
    engine.dispose()
    log_in(console, "viewer")
    now = console.get("/").text
    # Counted under its start, before the start (the plan sends nothing more for it here).
    at = re.escape(start.isoformat())
    row = re.search(rf'data-at="{at}" data-account="main">.*?</tr>', now, re.S)
    assert row is not None and "<td>1 ON, 0 OFF</td>" in row.group(0)
    assert "-59.0 / -59.0 s" in row.group(0)
    opened = console.get(f"/boundaries/{start.isoformat()}?account=main").text
    assert 'id="ramp-under-way"' in opened and ">asha<" in opened
    assert "59.0 s before" in opened  # confirmed 59 s before the start


def test_a_boundary_opens_to_its_switches_by_outcome_and_why(console: TestClient) -> None:
    log_in(console, "viewer")
    now = console.get("/").text
    link = re.search(r'href="(/boundaries/[^"]+)">', now)
    assert link is not None
    opened = console.get(link.group(1).replace("&amp;", "&")).text
    assert "2 ON, 0 OFF</b>due" in opened
    failed = opened[opened.index("group-failed") : opened.index("group-succeeded")]
    assert ">asha<" in failed and "Exotel failed to answer" in failed  # by why, in words
    confirmed = opened[opened.index("group-succeeded") :]
    assert ">ravi<" in confirmed and "2.0 s after" in confirmed
    bad = console.get("/boundaries/yesterday?account=main")
    assert bad.status_code == 400 and "is not an instant" in bad.text
