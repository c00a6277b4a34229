"""Roster validation (README: Roster format; Commands, `roster validate`).

Every bad roster below is the valid BASE with one targeted edit, so each row shows one mistake:
it must be refused with its place (and YAML line), and validating must touch nothing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shiftswitch.planning.validation import Report, validate_text
from shiftswitch.roster.yamldoc import load
from tests import EXAMPLE_ROSTER, ROOT
from tests.commands import Ran, shiftswitch

NOW = datetime(2026, 11, 30, tzinfo=UTC)  # a Monday, 05:30 in Asia/Kolkata
SECRET = "hunter2-s3cret"

# Line numbers in the table refer to this text (line 1 is "version: 1").
BASE = """\
version: 1
timezone: Asia/Kolkata
accounts:
  main:
    sid: acme_corp
    region: singapore
    rate_limit: 50/min
agents:
  asha:
    account: main
    user_id: "u-100"
    devices:
      desk: 100280
      mobile: "+919953125068"
  ravi:
    account: main
    user_id: "u-101"
    devices:
      desk: 100281
shifts:
  - name: morning
    start: "0 9 * * mon-fri"
    duration: 9h
    members: ["asha:desk", "ravi"]
  - name: weekend
    start: "0 10 * * sat,sun"
    duration: 6h
    timezone: Europe/London
    members: ["asha:mobile"]
overrides:
  - {agent: asha, device: mobile, from: "2026-12-01T09:00", to: "2026-12-01T13:00"}
  - {agent: ravi, off: true, from: "2026-12-24", to: "2026-12-26"}
"""


def edit(old: str, new: str, text: str = BASE) -> str:
    """``text`` with its single occurrence of ``old`` replaced by ``new``."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def add_shift(start: str, duration: str = "2h", member: str = "asha:mobile") -> str:
    """BASE plus a third shift, lines 30-33 (its members on line 33)."""
    shift = (
        f"  - name: extra\n"
        f'    start: "{start}"\n'
        f"    duration: {duration}\n"
        f'    members: ["{member}"]\n'
    )
    return edit("overrides:\n", shift + "overrides:\n")


def add_override(line: str) -> str:
    """BASE plus a third override, on line 33."""
    return BASE + f"  - {line}\n"


def rendered(report: Report) -> list[str]:
    return [p.render("roster.yaml") for p in (*report.errors, *report.warnings)]


def row(name, text, place, message, line, *, count=1):
    """One bad roster: refused with exactly ``count`` errors, one of them at ``place``."""
    return pytest.param(text, place, message, line, count, id=name)


BAD = [
    # -- document ------------------------------------------------------------------------
    row("yaml-syntax", edit("sid: acme_corp", "sid: acme: corp"), "(document)",
        "YAML syntax error: mapping values are not allowed", 5),
    row("version-2", edit("version: 1", "version: 2"), "version",
        'unsupported version "2"', 1),
    row("missing-timezone", edit("timezone: Asia/Kolkata\n", ""), "(document)",
        'missing "timezone"', 1),
    row("missing-shifts", BASE.split("shifts:", maxsplit=1)[0], "(document)",
        'missing "shifts"', 1),
    row("unknown-top-key", "shift_list: []\n" + BASE, "shift_list",
        'unknown key "shift_list"', 1),
    row("duplicate-agent", edit("  ravi:\n", "  asha:\n    account: main\n"
                                "    devices: {desk: 9}\n  ravi:\n"), "agents.asha",
        'duplicate key "asha"', 15),
    # -- time zones ----------------------------------------------------------------------
    row("tz-roster", edit("Asia/Kolkata", "Asia/Kolkatta"), "timezone",
        'unknown time zone "Asia/Kolkatta"', 2),
    row("tz-shift", edit("Europe/London", "Europe/Londn"), "shifts[1].timezone",
        'unknown time zone "Europe/Londn"', 28),
    # -- cron, duration, end -------------------------------------------------------------
    row("cron-hour-25", edit("0 9 * * mon-fri", "0 25 * * *"), "shifts[0].start",
        'invalid cron "0 25 * * *"', 22),
    row("cron-4-fields", edit("0 9 * * mon-fri", "0 9 * *"), "shifts[0].start",
        "expected 5 fields", 22),
    row("cron-never-fires", edit("0 9 * * mon-fri", "0 0 30 2 *"), "shifts[0].start",
        "never fires", 22),
    row("cron-bad-end", edit("duration: 6h", 'end: "0 16 * * sun-sat-fri"'), "shifts[1].end",
        "invalid cron", 27),
    row("duration-bad", edit("duration: 9h", "duration: 9 hours"), "shifts[0].duration",
        'bad duration "9 hours"', 23),
    row("duration-zero", edit("duration: 9h", "duration: 0h"), "shifts[0].duration",
        'bad duration "0h"', 23),
    row("end-and-duration", edit("duration: 9h\n", 'duration: 9h\n    end: "0 18 * * *"\n'),
        "shifts[0]", "exactly one of duration", 21),
    row("neither-end-nor-duration", edit("    duration: 9h\n", ""), "shifts[0]",
        "exactly one of duration", 21),
    row("unknown-key-typo", edit("duration: 9h", "duraton: 9h"), "shifts[0].duraton",
        'unknown key "duraton"', 23, count=2),  # and so neither duration nor end: 2 errors
    row("duplicate-shift-name", edit("name: weekend", "name: morning"), "shifts[1].name",
        'duplicate shift name "morning"', 25),
    # -- members -------------------------------------------------------------------------
    row("unknown-agent", edit('"ravi"]', '"rafi"]'), "shifts[0].members[1]",
        'unknown agent "rafi"', 24),
    row("unknown-device", edit('"asha:desk"', '"asha:phone"'), "shifts[0].members[0]",
        'unknown device "phone" of agent "asha"', 24),
    row("device-not-named", edit('"asha:desk"', '"asha"'), "shifts[0].members[0]",
        'agent "asha" has 2 devices; name one', 24),
    # -- accounts --------------------------------------------------------------------------
    row("unknown-account", edit("account: main\n    user_id: \"u-101\"",
                                "account: mian\n    user_id: \"u-101\""),
        "agents.ravi.account", 'unknown account "mian"', 16),
    row("bad-region", edit("singapore", "singapur"), "accounts.main.region",
        'unknown region "singapur"', 6),
    row("rate-fast", edit("50/min", "fast"), "accounts.main.rate_limit",
        'bad rate limit "fast"', 7),
    row("rate-zero", edit("50/min", "0/min"), "accounts.main.rate_limit",
        'bad rate limit "0/min"', 7),
    # -- devices -------------------------------------------------------------------------
    row("e164-too-short", edit("desk: 100281", 'desk: "+12"'), "agents.ravi.devices.desk",
        'bad E.164 number "+12"', 19),
    row("e164-leading-zero", edit("desk: 100281", 'desk: "+0123456789"'),
        "agents.ravi.devices.desk", 'bad E.164 number "+0123456789"', 19),
    row("e164-used-device", edit('"+919953125068"', '"+91995"'), "agents.asha.devices.mobile",
        'bad E.164 number "+91995"', 14),  # reported once, not again where it is used
    row("sip-bad", edit("desk: 100281", 'desk: "sip:ravi k@pbx"'), "agents.ravi.devices.desk",
        'bad SIP URI "sip:ravi k@pbx"', 19),
    row("device-id-twice", edit("desk: 100281", "desk: 100280"), "agents.ravi.devices.desk",
        "device 100280 is also agents.asha.devices.desk", 19),
    row("user-id-missing", edit('    user_id: "u-101"\n', ""), "agents.ravi.user_id",
        "needed when a device is given by device id", 15),
    # -- overrides -----------------------------------------------------------------------
    row("override-to-before-from", edit('to: "2026-12-01T13:00"', 'to: "2026-12-01T08:00"'),
        "overrides[0].to", "must be after from", 31),
    row("override-to-equals-from", edit('to: "2026-12-01T13:00"', 'to: "2026-12-01T09:00"'),
        "overrides[0].to", "must be after from", 31),
    row("overrides-overlap", add_override(
        '{agent: ravi, device: desk, from: "2026-12-26T09:00", to: "2026-12-26T10:00"}'),
        "overrides[2]", 'overlaps overrides[1] for agent "ravi"', 33),
    row("override-unknown-device", edit("device: mobile", "device: phone"),
        "overrides[0].device", 'unknown device "phone" of agent "asha"', 31),
    row("override-device-and-off", edit("ravi, off: true", "ravi, device: desk, off: true"),
        "overrides[1]", "not both", 32),
    # -- credentials (the secret value is checked separately below) ------------------------
    row("api-token-in-account", edit("    sid:", f"    api_token: {SECRET}\n    sid:"),
        "accounts.main.api_token", "credentials must not be written in the roster", 5),
    row("api-key-top-level", f"api_key: {SECRET}\n" + BASE, "api_key",
        "credentials must not be written in the roster", 1),
    row("password-in-base-url", edit("region: singapore",
                                     f"base_url: https://admin:{SECRET}@ccm-api.exotel.com"),
        "accounts.main.base_url", "credentials must not be written in the roster", 6),
    # -- conflicts (relative to NOW) -------------------------------------------------------
    row("conflict", add_shift("0 17 * * mon-fri"), "shifts[2].members[0]",
        'conflict: agent "asha" would be ON on two devices at once', 33),
]  # fmt: skip


@pytest.mark.parametrize(("text", "place", "message", "line", "count"), BAD)
def test_bad_roster_is_refused_with_its_place(text, place, message, line, count):
    report = validate_text(text, NOW)
    assert not report.ok
    assert report.roster is None
    found = [(p.place, p.line) for p in report.errors if message in p.message]
    assert (place, line) in found, rendered(report)
    assert len(report.errors) == count, rendered(report)
    assert all(p.level == "error" for p in report.errors)
    assert SECRET not in "\n".join(rendered(report))


CREDENTIALS = [
    edit("    sid:", f"    api_token: {SECRET}\n    sid:"),
    edit("    sid:", f"    password: {SECRET}\n    sid:"),
    f"api_key: {SECRET}\n" + BASE,
    edit("region: singapore", f"base_url: https://admin:{SECRET}@ccm-api.exotel.com"),
    edit("region: singapore", f"base_url: http://:{SECRET}@127.0.0.1:8090"),
    edit("region: singapore", f"base_url: https://ccm-api.exotel.com/?api_key={SECRET}"),
    edit("region: singapore", f"base_url: https://ccm-api.exotel.com/{SECRET}"),
    edit("      desk: 100280", f"      api_key: {SECRET}\n      desk: 100280"),
    pytest.param(
        edit("region: singapore", f"base_url: admin:{SECRET}@ccm-api.exotel.com"),
        id="base-url-no-scheme",
    ),
]


@pytest.mark.parametrize("text", CREDENTIALS)
def test_credentials_are_refused_without_repeating_them(text):
    report = validate_text(text, NOW)
    assert not report.ok
    assert any("credentials" in p.message for p in report.errors), rendered(report)
    for line in rendered(report):
        assert SECRET not in line


def test_several_problems_are_all_reported_sorted_by_line():
    text = BASE
    for old, new in [
        ("version: 1", "version: 3"),  # line 1
        ("50/min", "0/min"),  # line 7
        ("desk: 100281", 'desk: "+12"'),  # line 19
        ("0 10 * * sat,sun", "0 10 * * sat,sunday"),  # line 26
        ('to: "2026-12-01T13:00"', 'to: "2026-11-01T13:00"'),  # line 31
    ]:
        text = edit(old, new, text)
    report = validate_text(text, NOW)
    assert [(p.place, p.line) for p in report.errors] == [
        ("version", 1),
        ("accounts.main.rate_limit", 7),
        ("agents.ravi.devices.desk", 19),
        ("shifts[1].start", 26),
        ("overrides[0].to", 31),
    ], rendered(report)


# -- conflicts ----------------------------------------------------------------------------


def test_conflict_names_both_shifts_and_the_first_instant():
    (problem,) = validate_text(add_shift("0 17 * * mon-fri"), NOW).errors
    assert "desk (shift morning)" in problem.message
    assert "mobile (shift extra)" in problem.message
    # morning runs 09:00-18:00 and extra from 17:00 on weekdays; NOW is Monday 05:30 there.
    assert "2026-11-30 17:00 Asia/Kolkata (2026-11-30T11:30Z)" in problem.message


def test_conflict_within_28_days_is_reported():
    report = validate_text(add_shift("0 17 22 12 *"), NOW)  # Tuesday 2026-12-22, day 22
    assert [p.place for p in report.errors] == ["shifts[2].members[0]"], rendered(report)
    assert "2026-12-22 17:00" in report.errors[0].message


def test_conflict_beginning_after_28_days_is_not_reported():
    report = validate_text(add_shift("0 17 29 12 *"), NOW)  # Tuesday 2026-12-29, day 29
    assert report.ok, rendered(report)


def test_conflict_covered_by_an_override_is_not_a_conflict():
    text = add_shift("0 17 1 12 *")  # 17:00-19:00 on Tuesday 2026-12-01 only, within 28 days
    assert not validate_text(text, NOW).ok
    cover = '{agent: asha, device: desk, from: "2026-12-01T17:00", to: "2026-12-01T19:00"}'
    report = validate_text(text + f"  - {cover}\n", NOW)
    assert report.ok, rendered(report)


def test_conflict_partly_covered_by_an_override_starts_when_the_override_ends():
    part = '{agent: asha, device: desk, from: "2026-12-01T17:00", to: "2026-12-01T17:30"}'
    report = validate_text(add_shift("0 17 1 12 *") + f"  - {part}\n", NOW)
    (problem,) = report.errors
    assert "first at 2026-12-01 17:30 Asia/Kolkata (2026-12-01T12:00Z)" in problem.message


# -- the example roster and garbage ---------------------------------------------------------


def test_base_roster_is_valid():
    report = validate_text(BASE, NOW)
    assert report.ok, rendered(report)
    assert report.warnings == ()


def test_example_roster_is_valid():
    report = validate_text(EXAMPLE_ROSTER.read_text(encoding="utf-8"), NOW)
    assert report.ok, rendered(report)
    assert report.errors == ()
    assert report.roster is not None
    assert sorted(report.roster.agents) == ["asha", "meera", "ravi"]
    assert [s.name for s in report.roster.shifts] == [
        "weekday-morning",
        "weekday-evening",
        "weekend-support",
    ]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_validate_text_never_raises_for_garbage(text):
    report = validate_text(text, NOW)
    assert isinstance(report, Report)
    assert report.ok or report.errors


FIELDS = [
    'start: "0 9 * * mon-fri"',
    "duration: 9h",
    "timezone: Europe/London",
    'from: "2026-12-24"',
]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(FIELDS), st.text())
def test_validate_text_never_raises_for_garbage_in_a_field(field, garbage):
    key = field.split(":")[0]
    report = validate_text(edit(field, f"{key}: {json.dumps(garbage)}"), NOW)
    assert isinstance(report, Report)


GARBAGE = [
    pytest.param("", id="empty"),
    pytest.param("- a\n- b\n", id="list"),
    pytest.param("just text", id="scalar"),
    pytest.param("a: 1\n---\nb: 2\n", id="two-documents"),
    pytest.param("? [a, b]\n: c\n", id="list-as-key"),
    pytest.param(edit("timezone: Asia/Kolkata", "timezone: " + "a" * 300), id="long-zone"),
    pytest.param(
        "x: &a [*a]\n",
        id="recursive-alias",
    ),
    pytest.param(
        edit("duration: 9h", "duration: 99999999999d"),
        id="huge-duration",
    ),
    pytest.param(
        edit('to: "2026-12-26"', 'to: "9999-12-31"'),
        id="override-to-year-9999",
    ),
    pytest.param(
        edit('from: "2026-12-24"', 'from: "0001-01-01"'),
        id="override-from-year-1",
    ),
]


@pytest.mark.parametrize("text", GARBAGE)
def test_validate_text_never_raises_for_odd_documents(text):
    report = validate_text(text, NOW)
    assert isinstance(report, Report)
    assert not report.ok
    assert report.errors


# -- command line ---------------------------------------------------------------------------


def run_cli(*args: str, cwd: Path) -> Ran:
    return shiftswitch(*args, cwd=cwd)


def test_cli_example_roster_is_valid():
    result = run_cli("roster", "validate", "schedules.yaml", cwd=ROOT)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("schedules.yaml: valid")
    assert "Traceback" not in result.stderr


def test_cli_bad_roster_prints_every_problem_and_touches_nothing(tmp_path):
    bad = tmp_path / "roster.yaml"
    bad.write_text(
        edit("Europe/London", "Europe/Londn", edit("0 9 * * mon-fri", "0 25 * * *")),
        encoding="utf-8",
    )
    before = bad.read_bytes()
    result = run_cli("roster", "validate", "roster.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith('roster.yaml:22: shifts[0].start: invalid cron "0 25 * * *"')
    assert lines[1] == (
        'roster.yaml:28: shifts[1].timezone: unknown time zone "Europe/Londn"; '
        "use an IANA name such as Asia/Kolkata"
    )
    assert "2 problems" in lines[-1]
    assert bad.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["roster.yaml"]


def test_cli_missing_file_is_one_clear_error(tmp_path):
    result = run_cli("roster", "validate", "nowhere.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert "nowhere.yaml" in result.stderr
    assert "No such file" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_cli_missing_file_error_is_one_line(tmp_path):
    result = run_cli("roster", "validate", "nowhere.yaml", cwd=tmp_path)
    assert len(result.stderr.splitlines()) == 1, result.stderr


@pytest.mark.parametrize("empty", ["", " ~", " null"])
def test_empty_optional_sections_are_accepted(empty):
    assert load(f"a:{empty}\n").root == {"a": None}
    assert load('a: ""\n').root == {"a": ""}  # quoted stays text
    text = BASE.split("overrides:", maxsplit=1)[0] + f"overrides:{empty}\n"
    assert validate_text(text, NOW).ok, rendered(validate_text(text, NOW))


def test_a_documents_lines_are_read_only_when_asked_for_and_then_in_full():
    doc = load("a: 1\nb:\n  - x\n  - {c: 2}\n")
    assert doc.line(("b",)) == 2 and doc._lines is None  # a mapping's entry: first pass
    assert doc.line(("b", 1, "c")) == 4 and doc.line(("b", 0)) == 3
    assert doc.exact_line(("b", 1, "nothing")) is None and doc.line(("b", 1, "nothing")) == 4
    assert doc.line(("a",)) == 1


@pytest.mark.parametrize(
    "text",
    [
        EXAMPLE_ROSTER.read_text(encoding="utf-8"),
        BASE,
        "a: &x {b: 1}\nc: *x\nd: [1, &y 2, *y]\ne:\n  f: [g]\n",
        "a: 1\na: 2\n? [k]\n: v\nb: {c: 1, c: 2}\n",  # duplicate and refused keys
    ],
)
def test_the_first_pass_lines_are_the_full_passes(text):
    doc = load(text)
    shallow = dict(doc.shallow)
    assert shallow and all(len(path) <= 2 for path in shallow)
    assert {p: doc.lines.get(p) for p in shallow} == shallow


def test_a_valid_rosters_warning_finds_its_line():
    idle = '  idle: {account: main, user_id: "u-9", devices: {desk: "999"}}\n'
    report = validate_text(BASE.replace("agents:\n", "agents:\n" + idle, 1), NOW)
    assert report.ok
    [warning] = [w for w in report.warnings if w.path == ("agents", "idle")]
    assert warning.line == 9  # the line its name is on


def test_agents_with_the_same_conflicting_shifts_each_have_their_conflict():
    meera = (
        '  meera:\n    account: main\n    user_id: "u-102"\n    devices:\n'
        '      desk: 100282\n      mobile: "+919953125069"\n'
    )
    text = add_shift("0 17 * * mon-fri", member='asha:mobile", "meera:mobile')
    text = text.replace("shifts:\n", meera + "shifts:\n", 1)
    text = text.replace(
        'members: ["asha:desk", "ravi"]', 'members: ["asha:desk", "ravi", "meera:desk"]'
    )
    # The same memberships as asha's (the weekend shift too): their conflicts are found once.
    text = text.replace('members: ["asha:mobile"]', 'members: ["asha:mobile", "meera:mobile"]')
    problems = validate_text(text, NOW).errors
    assert sorted(p.message.split('"')[1] for p in problems) == ["asha", "meera"]
    assert all("2026-11-30 17:00 Asia/Kolkata" in p.message for p in problems)
