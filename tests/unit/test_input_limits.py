"""Inputs that could take a process down are refused at once, in one line with their place: YAML
alias bombs, documents too large, too deep or with too many values, values too long, numbers
and date-times out of range (roster, sandbox seed, settings)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from shiftswitch.planning.validation import validate_text
from shiftswitch.problems import RosterError
from shiftswitch.roster.fields import LATEST
from shiftswitch.roster.limits import LIMITS, MAX_DEPTH, MAX_TEXT, MAX_VALUES, Limits
from shiftswitch.roster.loader import read_text
from shiftswitch.roster.yamldoc import load
from shiftswitch.sandbox.seed import load_seed
from shiftswitch.sandbox.state import SeedError
from shiftswitch.settings import ConfigError, Settings
from tests import EXAMPLE_ROSTER, EXAMPLE_SEED

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def bomb(levels: int = 9, fanout: int = 10) -> str:
    """A "billion laughs": each level ``fanout`` aliases of the one above (10**9 values for
    a few hundred bytes)."""
    lines = ["version: 1", "timezone: Asia/Kolkata"]
    lines.append(f"l0: &l0 [{','.join(['lol'] * fanout)}]")
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{','.join([f'*l{i - 1}'] * fanout)}]")
    return "\n".join(lines) + "\n"


def refusal(text: str, limits: Limits = LIMITS) -> str:
    """The one problem ``text`` is refused with, rendered."""
    with pytest.raises(RosterError) as caught:
        load(text, limits)
    (problem,) = caught.value.problems
    return problem.render()


def test_an_alias_bomb_is_refused_at_the_alias_that_crosses_the_limit_at_once() -> None:
    text = bomb()
    assert len(text) < 500
    started = time.perf_counter()
    report = validate_text(text, NOW)
    assert time.perf_counter() - started < 5  # it took 31 s and 3.5 GB before it died
    (problem,) = report.errors
    # l5 stands for 1,111,111 values; the first of them in l6 takes the document past 2,000,000
    assert problem.line == 9 and problem.place == "l6[0]"
    assert "the alias *l5 stands for 1,111,111 values" in problem.message
    assert f"the limit of {MAX_VALUES:,} values" in problem.message
    assert "\n" not in problem.render()


def test_values_are_counted_through_aliases_exactly() -> None:
    # root 1 + key 1 + [lol, lol] 3 = 5; key 1 + [*a, *a] 1 + 2 x 3 = 8: 13 values in all
    text = "a: &a [lol, lol]\nb: [*a, *a]\n"
    assert load(text, Limits(values=13)).root == {"a": ["lol", "lol"], "b": [["lol"] * 2] * 2}
    assert refusal(text, Limits(values=12)) == (
        "line 2: b[1]: the alias *a stands for 3 values, which takes the document past the "
        "limit of 12 values (aliases of aliases multiply); write the values out, or use fewer "
        "aliases"
    )


def test_a_plain_document_with_too_many_values_is_refused_at_the_first_one_over() -> None:
    text = "shifts:\n" + "".join(f"  - s{i}\n" for i in range(100))
    # the root, the key, the list and its 100 items
    assert len(load(text, Limits(values=103)).root["shifts"]) == 100  # type: ignore[index]
    assert refusal(text, Limits(values=102)) == (
        "line 101: shifts[99]: more than 102 values in the document; is it the right file?"
    )


def test_an_alias_of_what_holds_it_is_refused() -> None:
    assert refusal("a: &a [x, *a]\n").startswith(
        "line 1: a[1]: the alias *a stands for the value that holds it (a recursive alias)"
    )


def test_aliases_in_a_real_roster_still_work_and_lines_point_at_the_alias() -> None:
    text = (
        EXAMPLE_ROSTER.read_text()
        .replace('members: ["asha:desk", "ravi"]', 'members: &team ["asha:desk", "ravi"]')
        .replace('members: ["asha:desk", "meera"]', "members: *team")
    )
    report = validate_text(text, NOW)
    assert report.ok, [p.render() for p in report.errors]
    assert report.roster is not None
    assert [str(m) for m in report.roster.shifts[1].members] == ["asha:desk", "ravi:desk"]
    doc = load(text)
    alias_line = text.splitlines().index("    members: *team") + 1
    assert doc.line(("shifts", 1, "members", 0)) == alias_line


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: &x 1\nb: &x 2\n", "line 2: b: YAML syntax error: anchor &x is defined twice"),
        ("a: *nope\n", "line 1: a: YAML syntax error: found undefined alias *nope"),
        (
            "a: 1\n---\nb: 2\n",
            "line 2: (document): a second YAML document (after '---' or '...'); "
            "a roster is one document",
        ),
    ],
)
def test_alias_and_document_mistakes_are_one_line(text: str, message: str) -> None:
    assert refusal(text) == message


def test_a_character_yaml_does_not_allow_is_one_line_with_its_line() -> None:
    assert refusal("a: 1\nb: \x07\n").startswith(
        "line 2: (document): YAML syntax error: unacceptable character #x0007: "
    )
    assert "\n" not in refusal("a: 1\nb: \x07\n")


def test_nesting_deeper_than_the_limit_is_refused_with_its_place() -> None:
    def nested(depth: int) -> str:  # ``depth`` mappings, the root among them
        return "a: " + "{a: " * (depth - 1) + "x" + "}" * (depth - 1) + "\n"

    assert load(nested(MAX_DEPTH)).root is not None
    message = refusal(nested(MAX_DEPTH + 1))
    assert message == (
        f"line 1: {'.'.join(['a'] * MAX_DEPTH)}: nested more than {MAX_DEPTH} levels deep; "
        "is it the right file?"
    )
    started = time.perf_counter()
    refusal("a: " + "[" * 100_000 + "]" * 100_000 + "\n")  # libyaml's own limit, or ours
    assert time.perf_counter() - started < 5


def test_a_value_too_long_is_refused_without_being_echoed() -> None:
    text = EXAMPLE_ROSTER.read_text()
    line = text.splitlines().index('    user_id: "u-101"') + 1
    report = validate_text(text.replace("u-101", "u" * 1024 * 1024, 1), NOW)
    (problem,) = report.errors
    assert problem.render() == (
        f"line {line}: agents.ravi.user_id: a value of 1,048,576 characters, over the limit of "
        f"{MAX_TEXT:,}; is it in the right place?"
    )
    assert load(f"a: {'b' * MAX_TEXT}\n").root == {"a": "b" * MAX_TEXT}


def test_a_document_over_the_byte_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    assert refusal("a: " + "b" * 98 + "\n", Limits(bytes=100)) == (
        "(document): the document is 102 bytes, over the limit of 100 bytes; is it the right file?"
    )
    big = tmp_path / "schedules.yaml"
    with big.open("wb") as fh:
        fh.truncate(40 * 1024 * 1024)  # sparse: nothing written, nothing need be read
    with pytest.raises(RosterError) as caught:
        read_text(str(big))
    assert str(caught.value.problems[0].render(str(big))) == (
        f"{big}: (document): the document is 40.0 MiB, over the limit of 32.0 MiB; "
        "is it the right file?"
    )


def test_a_file_with_no_end_is_read_no_further_than_the_limit() -> None:
    with pytest.raises(RosterError) as caught:
        read_text("/dev/zero", Limits(bytes=1000))
    assert caught.value.problems[0].message.startswith(
        "the document is over the limit of 1,000 bytes"
    )


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ("50/min", "99999999999999999999999999999/min"),
            'accounts.main.rate_limit: rate limit "99999999999999999999999999999/min" is over '
            "1,000,000 per window; write the account's own limit, e.g. 50/min",
        ),
        (
            ('to: "2026-12-01T13:00"', 'to: "9999-12-31T23:59Z"'),
            'overrides[0].to: date-time "9999-12-31T23:59Z" is too far out; write one from '
            "0001-01-03 to 9999-12-29 (UTC)",
        ),
        (
            ('from: "2026-12-01T09:00"', 'from: "0001-01-01T00:00-14:00"'),
            'overrides[0].from: date-time "0001-01-01T00:00-14:00" is too far out; write one '
            "from 0001-01-03 to 9999-12-29 (UTC)",
        ),
        (
            ("duration: 9h", "duration: 1e308h"),
            'shifts[0].duration: bad duration "1e308h"; write e.g. 9h, 7h30m, 45m or 1d',
        ),
        (
            ("duration: 9h", "duration: 99999h"),
            "shifts[0].duration: duration 99999h is longer than 31 days",
        ),
    ],
)
def test_numbers_and_date_times_out_of_range_are_refused(
    edit: tuple[str, str], message: str
) -> None:
    text = EXAMPLE_ROSTER.read_text()
    assert edit[0] in text
    (problem,) = validate_text(text.replace(*edit, 1), NOW).errors
    assert problem.render().split(": ", 1)[1] == message


def test_the_far_end_of_the_calendar_is_still_a_roster_date_time() -> None:
    assert LATEST.date().isoformat() == "9999-12-29"
    text = EXAMPLE_ROSTER.read_text().replace('to: "2026-12-01T13:00"', 'to: "9999-12-28"')
    assert validate_text(text, NOW).ok


# -- the sandbox seed ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "seed.yaml",
            bomb(),
            "line 9: l6[0]: the alias *l5 stands for 1,111,111 values, which takes the document "
            "past the limit of 2,000,000 values",
        ),
        ("seed.json", "[" * 100_000 + "]" * 100_000, "invalid JSON: nested too deeply"),
        (
            "seed.json",
            '{"accounts": {"a": {"users": [{"id": ' + "9" * 5000 + "}]}}}",
            "invalid JSON: a number of thousands of digits",
        ),
    ],
)
def test_a_seed_that_could_take_the_sandbox_down_is_refused(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(SeedError) as caught:
        load_seed(str(path))
    assert str(caught.value).startswith(f"{path}: {message}")


def test_a_seed_too_large_or_with_a_value_too_long_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "seed.yaml"
    with big.open("wb") as fh:
        fh.truncate(40 * 1024 * 1024)
    with pytest.raises(SeedError, match=r"the document is 40\.0 MiB, over the limit of 32\.0 MiB"):
        load_seed(str(big))
    seed = yaml.safe_load(EXAMPLE_SEED.read_text())
    sid = next(iter(seed["accounts"]))
    seed["accounts"][sid]["users"][0]["first_name"] = "x" * 100_000
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed))
    with pytest.raises(SeedError) as caught:
        load_seed(str(path))
    assert str(caught.value) == (
        f"{path}: accounts.{sid}.users[0].first_name: 100,000 characters, over the limit of "
        f"{MAX_TEXT:,}"
    )


# -- settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("SHIFTSWITCH_HTTP_TIMEOUT", "1e308", "must be a number of seconds from 0.1 to 3600"),
        ("SHIFTSWITCH_HTTP_TIMEOUT", "inf", "must be a number of seconds from 0.1 to 3600"),
        ("SHIFTSWITCH_HTTP_TIMEOUT", "nan", "must be a number of seconds from 0.1 to 3600"),
        ("SHIFTSWITCH_RETRY_BASE_DELAY", "1e20", "must be a number of seconds from 0.01 to 3600"),
        ("SHIFTSWITCH_RETRY_MAX_DELAY", "1e20", "must be a number of seconds from 0.01 to 86400"),
        ("SHIFTSWITCH_RETRY_MAX_ATTEMPTS", "1001", "must be a whole number from 1 to 1000"),
        ("SHIFTSWITCH_RETRY_MAX_AGE", "1e9", "must be a number of seconds from 1 to 604800"),
        ("SHIFTSWITCH_VISIBILITY_TIMEOUT", "1e9", "must be a number of seconds from 1 to 604800"),
        ("SHIFTSWITCH_LOCK_TTL", "1e9", "must be a number of seconds from 1 to 86400"),
    ],
)
def test_settings_out_of_range_are_one_line_naming_the_variable(
    name: str, raw: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: raw})
    assert str(caught.value) == f"{name}={raw!r}: {message}"


def test_a_setting_of_thousands_of_digits_is_not_echoed_whole() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"SHIFTSWITCH_RETRY_MAX_ATTEMPTS": "9" * 5000})
    assert str(caught.value) == (
        "SHIFTSWITCH_RETRY_MAX_ATTEMPTS='99999999999999999999... (5000 characters)': "
        "must be a whole number from 1 to 1000"
    )


def test_settings_at_their_upper_bounds_are_accepted() -> None:
    settings = Settings.from_env(
        {
            "SHIFTSWITCH_HTTP_TIMEOUT": "3600",
            "SHIFTSWITCH_LOCK_TTL": "86400",
            "SHIFTSWITCH_RETRY_MAX_DELAY": "86400",
            "SHIFTSWITCH_VISIBILITY_TIMEOUT": "604800",
            "SHIFTSWITCH_RETRY_MAX_AGE": "604800",
            "SHIFTSWITCH_RETRY_MAX_ATTEMPTS": "1000",
        }
    )
    assert settings.http_timeout == 3600 and settings.retry.max_attempts == 1000
