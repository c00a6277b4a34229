"""The console in a real browser (headless Chromium), against a real ``shiftswitch api``
process, PostgreSQL, Redis, a real worker and the sandbox: log in, see an agent ON after a
switch, follow a shift's boundary on the timeline, add an override and see it there, read a
refused override's reason; hold an agent's desk OFF and see it kept OFF on purpose (not a
failure) with the hold's end among the next changes; a viewer has no switch buttons and a
forged change is refused.

One world per module (server, worker, scheduler on a test clock, browser): each test starts
from it and uses a browser context of its own, so any order (or process) works. The scheduler
runs in the test on a clock that starts 30 s before the shift's first boundary, the minute this
module began, so the boundary happens when the test moves the clock, on the real time the
server and the worker keep.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from shiftswitch.access import AccessStore, Role
from shiftswitch.db import make_engine
from shiftswitch.models import Action, Status
from tests.browser import LAPTOP, PHONE, Screenshots, chromium, log_in
from tests.pipeline import (
    ASHA,
    HANDOFF_AGENTS,
    RAVI,
    Pipeline,
    SharedWorker,
    kill,
    pipeline,
    roster_yaml,
    spawn_api,
    user,
    wait_until,
)
from tests.services import MigratedPostgres

PASSWORD = "console-test-password"
KIRAN = user("u-102", ("100282", "Desk", "+919953125003"))  # on shift when the world starts
AGENTS = {**HANDOFF_AGENTS, "kiran": ("u-102", {"desk": "100282"})}
# Exotel's raw words, as long as they come: no page may scroll sideways for them on a phone.
LONG_FAILURE = (
    "Exotel refused: 500 1004 Internal Server Error [request "
    "5f1c2a7e9b3d4c8f0a1e6d2b7c9f3a5e8d1b4c7a0f2e5d8b1c4a7f0e3d6b9c2a5f8e1] (HTTP 500), "
    "three times"
)
WIDEST = (
    "[...document.querySelectorAll('body *')].filter(e => !e.closest('.scroll') && "
    "e.getBoundingClientRect().right > innerWidth + 1).slice(0, 5).map(e => e.tagName + '.' + "
    "e.className)"
)
PAGES = ("/", "/timeline", "/agents/asha", "/roster", "/overrides", "/operations", "/reports",
         "/notifications")  # fmt: skip


@dataclass
class World:
    p: Pipeline
    url: str
    browser: Any
    boundary: datetime  # the start of asha's desk shift, this module's first minute
    shots: Screenshots

    def page(self, name: str, **kwargs: Any) -> Any:
        return log_in(self.browser, self.url, name, PASSWORD, **kwargs)


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
    _migrated_postgres: MigratedPostgres,
    shared_worker: SharedWorker,
) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("console")
    boundary = datetime.now(UTC).replace(second=0, microsecond=0)
    later = boundary + timedelta(hours=3)

    def shift(name: str, at: datetime, hours: int, member: str) -> dict[str, object]:
        return {
            "name": name,
            "start": f"{at:%M %H} * * *",
            "duration": f"{hours}h",
            "members": [member],
        }

    shifts = [
        shift("kiran-day", boundary - timedelta(hours=1), 3, "kiran"),  # in force from the start
        shift("desk-now", boundary, 2, "asha:desk"),
        shift("mobile-next", later, 2, "asha:mobile"),
        shift("ravi-late", later, 4, "ravi"),
    ]
    url = _migrated_postgres.empty()
    with pipeline(
        tmp, url, [ASHA, RAVI, KIRAN], lambda base: roster_yaml(base, AGENTS, shifts),
        shared=shared_worker,
    ) as p:  # fmt: skip
        p.import_roster()
        engine = make_engine(url)
        earlier_results(engine, boundary)
        access = AccessStore(engine)
        access.add_user("olga", Role.OPERATOR, PASSWORD, by="tests", now=datetime.now(UTC))
        access.add_user("vic", Role.VIEWER, PASSWORD, by="tests", now=datetime.now(UTC))
        engine.dispose()
        p.start_worker()
        p.start_scheduler(boundary - timedelta(seconds=30), source="db")
        proc, base = spawn_api({**p.env, "SHIFTSWITCH_ROSTER_SOURCE": "db"}, tmp / "api.log")
        try:
            with chromium() as browser:
                yield World(p, base, browser, boundary, Screenshots(tmp))
        finally:
            kill(proc)
            p.settle(30)


def earlier_results(engine: Engine, boundary: datetime) -> None:
    """Results of earlier switches, as the worker records them, so that the timeline has a
    past to show: ravi's desk ON then OFF, and one of asha's ONs failed."""

    def action(n: int, agent: str, on: bool, hours: float, status: Status, code: int) -> Action:
        at = boundary - timedelta(hours=hours)
        return Action(
            key=f"earlier/{n}", source="schedule", user_key=f"main/u-{n}", account="main",
            sid="acme_corp", base_url="http://127.0.0.1:1", rate_limit="100/s", agent=agent,
            device="desk", user_id="u-101" if agent == "ravi" else "u-100",
            device_id="100281" if agent == "ravi" else "100280", wants_on=on, shift="earlier",
            due_at=at, created_at=at, enqueued_at=at, finished_at=at + timedelta(seconds=1),
            status=status, attempts=1, last_http_code=code,
            reason=None if code == 200 else LONG_FAILURE,
        )  # fmt: skip

    with Session(engine) as session, session.begin():
        session.add_all(
            [
                action(1, "ravi", True, 9, Status.SUCCEEDED, 200),
                action(2, "ravi", False, 5, Status.SUCCEEDED, 200),
                action(3, "asha", True, 7, Status.FAILED, 500),
            ]
        )


def row(page: Any, agent: str) -> Any:
    return page.locator(f'#timeline .row[data-agent="{agent}"]')


def test_log_in_and_the_now_page_shows_an_agent_on_after_a_switch(world: World) -> None:
    page = world.page("olga")
    assert page.locator("header .who").inner_text().startswith("olga")
    page.goto(f"{world.url}/agents/ravi")
    page.once("dialog", lambda dialog: dialog.accept())  # "Turn ravi's desk ON now ...?"
    page.locator('tr[data-device="desk"] button[value="on"]').click()
    said = page.locator(".said").inner_text()
    assert re.fullmatch(r"action \d+ sent: ravi desk ON", said), said
    wait_until(lambda: world.p.device("u-101", "100281")["available"] is True, 30, "ravi's desk ON")

    def shown_on() -> bool:
        page.goto(f"{world.url}/")
        return page.locator('#on-now tr[data-agent="ravi"]').count() == 1

    wait_until(shown_on, 30, "the Now page showing ravi ON")
    assert "desk" in page.locator('#on-now tr[data-agent="ravi"]').inner_text()
    world.shots.take(page, "now")
    phone = world.page("olga", viewport=PHONE)
    world.shots.take(phone, "now-phone")
    phone.context.close()
    page.context.close()


def test_a_hold_is_kept_off_not_a_failure_and_its_end_is_a_next_change(world: World) -> None:
    wait_until(
        lambda: world.p.device("u-102", "100282")["available"] is True, 30, "kiran's desk ON"
    )
    page = world.page("olga")
    page.goto(f"{world.url}/agents/kiran")
    until = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=50)
    desk = page.locator('tr[data-device="desk"]')
    desk.locator("input[name=until]").fill(f"{until:%Y-%m-%dT%H:%M}")
    desk.locator("input[name=reason]").fill("training call")
    page.once("dialog", lambda dialog: dialog.accept())
    desk.locator("button[value=off]").click()
    assert "kiran desk OFF" in page.locator(".said").inner_text()
    wait_until(
        lambda: world.p.device("u-102", "100282")["available"] is False, 30, "kiran's desk OFF"
    )

    def kept_off() -> bool:
        page.goto(f"{world.url}/")
        return page.locator("#kept-off").count() == 1 and "kiran" in page.locator(
            "#kept-off").inner_text()  # fmt: skip

    wait_until(kept_off, 30, "kiran kept OFF on purpose")
    assert "training call" in page.locator("#kept-off").inner_text()
    missing = page.locator("#missing")
    assert missing.count() == 0 or "kiran" not in missing.inner_text()  # not a failure
    ahead = [r.inner_text() for r in page.locator("#next tr").all()]
    back = [r for r in ahead if "kiran" in r and "end of hold by olga" in r]
    assert back and "ON" in back[0] and f"{until:%H:%M}" in back[0], ahead
    # As it was for the other tests: a switch without "hold until" ends the hold.
    page.goto(f"{world.url}/agents/kiran")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator('tr[data-device="desk"] button[value=on]').click()
    assert "kiran desk ON" in page.locator(".said").inner_text()
    wait_until(lambda: world.p.device("u-102", "100282")["available"] is True, 30, "kiran back ON")
    page.context.close()


def test_the_timeline_shows_the_shift_and_after_the_boundary_the_confirmed_bar(
    world: World,
) -> None:
    page = world.page("olga")
    page.goto(f"{world.url}/timeline?q=asha&day={world.boundary:%Y-%m-%d}")
    asha = row(page, "asha")
    titles = [t.text_content() for t in asha.locator("rect.bar.shift title").all()]
    assert any(t.startswith("desk ON") and "desk-now" in t for t in titles), titles
    assert asha.locator("rect.bar.confirmed").count() == 0

    world.p.tick_at(world.boundary)  # the scheduler reaches the shift's start
    wait_until(lambda: world.p.device("u-100", "100280")["available"] is True, 30, "asha's desk ON")
    wait_until(
        lambda: any(
            a.agent == "asha" and a.status == Status.SUCCEEDED and a.wants_on
            for a in world.p.actions()
        ),
        30,
        "asha's ON recorded as succeeded",
    )
    page.reload()
    confirmed = row(page, "asha").locator("rect.bar.confirmed")
    assert confirmed.count() == 1
    assert confirmed.locator("title").text_content().startswith("desk ON")
    page.goto(f"{world.url}/timeline?day={world.boundary:%Y-%m-%d}")
    world.shots.take(page, "timeline")
    phone = world.page("olga", viewport=PHONE)
    phone.goto(f"{world.url}/timeline?span=now")  # a few hours around now
    assert phone.locator("svg.axis line.now").count() == 1
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    world.shots.take(phone, "timeline-phone")
    phone.context.close()
    page.goto(f"{world.url}/agents/asha")
    assert "succeeded" in page.locator("#actions").inner_text()
    world.shots.take(page, "agent")
    page.context.close()


def test_an_override_added_in_the_page_is_on_the_timeline_and_a_refused_one_says_why(
    world: World,
) -> None:
    page = world.page("olga")
    start = world.boundary + timedelta(minutes=20)
    page.goto(f"{world.url}/overrides")
    form = page.locator("#add-override")
    form.locator("input[name=agent]").fill("asha")
    form.locator("input[name=device]").fill("mobile")
    form.locator("input[name=start]").fill(f"{start:%Y-%m-%dT%H:%M}")
    form.locator("input[name=end]").fill(f"{start + timedelta(minutes=20):%Y-%m-%dT%H:%M}")
    form.locator("button[type=submit]").click()
    said = page.locator(".said").inner_text()
    assert re.match(r"override \d+ added: asha: mobile ON from ", said), said
    world.shots.take(page, "overrides")

    page.goto(f"{world.url}/timeline?q=asha&day={start:%Y-%m-%d}")
    override = row(page, "asha").locator("rect.bar.override")
    assert override.count() == 1
    assert override.locator("title").text_content().startswith("mobile ON")

    page.goto(f"{world.url}/overrides")
    form = page.locator("#add-override")
    form.locator("input[name=agent]").fill("asha")
    form.locator("input[name=start]").fill(f"{start + timedelta(minutes=10):%Y-%m-%dT%H:%M}")
    form.locator("input[name=end]").fill(f"{start + timedelta(minutes=30):%Y-%m-%dT%H:%M}")
    form.locator("button[type=submit]").click()
    refusal = page.locator(".refusal").inner_text()
    assert "\n" not in refusal and "overlaps override" in refusal, refusal
    assert form.locator("input[name=agent]").input_value() == "asha"  # kept, to fix and retry

    page.goto(f"{world.url}/roster")
    world.shots.take(page, "roster")
    page.goto(f"{world.url}/operations")
    assert page.locator("#checks").inner_text().count("ok") >= 2
    world.shots.take(page, "operations")
    page.context.close()


def test_a_viewer_sees_no_switch_buttons_and_a_forged_change_is_refused(world: World) -> None:
    page = world.page("vic")
    page.goto(f"{world.url}/agents/asha")
    assert page.locator("#devices").count() == 1
    assert page.locator("form.switch, button:has-text('ON now')").count() == 0
    csrf = page.locator("input[name=csrf_token]").first.input_value()
    forged = page.request.post(
        f"{world.url}/agents/asha/devices/desk/switch",
        form={"state": "off", "csrf_token": csrf},
        max_redirects=0,
    )
    assert forged.status == 403
    assert "vic has the role viewer; this needs operator or above" in forged.text()
    # And without a session at all: no page, no change.
    anonymous = requests.post(
        f"{world.url}/agents/asha/devices/desk/switch",
        data={"state": "off"},
        allow_redirects=False,
        timeout=10,
    )
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    page.context.close()


def test_the_reports_page_fits_a_phone_and_downloads_its_file(world: World) -> None:
    page = world.page("vic", viewport=PHONE)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{world.url}/reports")
    assert page.locator("#chart .bar").count() >= 1  # today: asha's desk shift is under way
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    world.shots.take(page, "reports-phone")
    with page.expect_download() as got:
        page.click("#download-csv")
    text = got.value.path().read_text()
    assert text.startswith("agent,device,account,day,zone,planned_s,confirmed_s,adherence")
    assert "\nasha,desk,main," in text
    assert errors == []
    page.context.close()
    laptop = world.page("vic", viewport=LAPTOP)
    laptop.goto(f"{world.url}/reports")
    assert laptop.locator("#chart .bar").count() >= 1
    world.shots.take(laptop, "reports")
    laptop.context.close()


@pytest.mark.parametrize("viewport", [PHONE, LAPTOP], ids=["390", "1366"])
def test_no_page_scrolls_sideways_or_logs_an_error_with_a_long_failure_shown(
    world: World, viewport: dict[str, int]
) -> None:
    page = world.page("olga", viewport=viewport)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error"
            else None)  # fmt: skip
    page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
    wide = {}
    for path in PAGES:
        page.goto(f"{world.url}{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > viewport["width"]:
            wide[path] = (width, page.evaluate(WIDEST))  # what sticks out, to say which
    page.goto(f"{world.url}/operations")
    failures = page.locator("#failures").inner_text()
    assert "Exotel failed to answer" in failures  # in plain words, with the next step
    page.locator("#failures details.raw summary").first.click()  # Exotel's own words on demand
    assert "5f1c2a7e9b3d4c8f" in page.locator("#failures").inner_text()
    assert wide == {}, f"pages wider than {viewport['width']} px: {wide}"
    page.goto(f"{world.url}/timeline")
    labels = page.locator("svg.axis text")
    shown = sum(labels.nth(i).is_visible() for i in range(labels.count()))
    assert shown == (8 if viewport is PHONE else 24), shown  # every third hour on a phone
    assert errors == []
    page.context.close()


def test_by_keyboard_alone_log_in_filter_and_switch_after_a_confirmation(world: World) -> None:
    context = world.browser.new_context(viewport=LAPTOP, timezone_id="UTC")
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{world.url}/")
    page.wait_for_function("document.activeElement && document.activeElement.name === 'name'")
    page.keyboard.type("olga")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{world.url}/")

    tab_to(page, "input[name=q]")
    page.keyboard.type("ravi")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*[?&]q=ravi"))
    assert page.locator("input[name=q]").input_value() == "ravi"
    tab_to(page, 'a[href="/agents/ravi"]')
    page.keyboard.press("Enter")
    page.wait_for_url(f"{world.url}/agents/ravi")

    asked: list[str] = []

    def answer(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()  # no: nothing is sent

    page.on("dialog", answer)
    tab_to(page, "form.switch button.off")
    assert page.evaluate("document.activeElement.textContent") == "OFF now"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.press("Enter")
    wait_until(lambda: bool(asked), 5, "the confirmation")
    assert asked == ["Turn ravi's desk OFF now?"]
    assert page.url == f"{world.url}/agents/ravi" and "sent:" not in page.content()
    context.close()


def tab_to(page: Any, selector: str, presses: int = 80) -> None:
    """Press Tab until the element ``selector`` names has the focus, as a keyboard user would."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} not reached in {presses} presses of Tab")


AXE = Path(__file__).resolve().parent.parent / "vendor" / "axe.min.js"  # axe-core 4.10.2, MPL-2.0
SERIOUS = """async () => {
  const found = await axe.run(document, {resultTypes: ["violations"]});
  return found.violations.filter(v => ["serious", "critical"].includes(v.impact))
    .map(v => `${v.id} (${v.impact}): ` +
      v.nodes.slice(0, 3).map(n => n.target.join(" ") + " " + n.failureSummary).join("; "));
}"""


def test_no_page_has_a_serious_or_critical_accessibility_violation(world: World) -> None:
    page = world.page("olga", bypass_csp=True)  # axe is added to each page as a script
    found = {}
    for path in PAGES:
        page.goto(f"{world.url}{path}")
        page.add_script_tag(path=str(AXE))
        violations = page.evaluate(SERIOUS)
        if violations:
            found[path] = violations
    page.context.close()
    assert found == {}, "\n".join(f"{p}: {v}" for p, vs in found.items() for v in vs)
