"""The roster reader's C first pass (``shiftswitch/roster/_fastyaml.c``) against the Python
reader: the same values, the same first-pass lines, and every document it leaves to Python read
there with the same outcome."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.gen_roster import generate
from shiftswitch import health
from shiftswitch.problems import RosterError
from shiftswitch.roster import yamldoc
from shiftswitch.roster.limits import LIMITS, Limits
from shiftswitch.settings import Settings

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    yamldoc._fastyaml is None and not os.environ.get("CI"),
    reason="the C reader is not built here (needs gcc and libyaml-dev at install)",
)


def test_the_c_reader_is_built_and_used() -> None:
    # CI installs gcc and libyaml-dev: there the reader must have been built.
    assert yamldoc._fastyaml is not None
    assert yamldoc.read_in_c()  # beside PyYAML's libyaml


@contextmanager
def python_alone() -> Iterator[None]:
    with mock.patch.object(yamldoc, "_IN_C", False):
        yield


def outcome(text: str, limits: Limits = LIMITS) -> tuple[object, ...]:
    """What ``yamldoc.load`` gives: the values, first-pass lines and problems, or the error."""
    try:
        doc = yamldoc.load(text, limits)
    except RosterError as exc:
        return ("error", [(p.path, p.message, p.line) for p in exc.problems])
    problems = [(p.path, p.message, p.line) for p in doc.problems]
    return ("read", doc.root, doc.shallow, problems)


def same_both_ways(text: str, limits: Limits = LIMITS) -> None:
    with_c = outcome(text, limits)
    with python_alone():
        assert with_c == outcome(text, limits)


def read_in_c(text: str, limits: Limits = LIMITS) -> Any:
    assert yamldoc._fastyaml is not None
    return yamldoc._fastyaml.load(
        text.encode(), limits.values, limits.depth, limits.text, yamldoc.SHALLOW
    )


@pytest.mark.parametrize("name", ["schedules.yaml", "sandbox.yaml"])
def test_the_shipped_files_read_the_same(name: str) -> None:
    text = (ROOT / name).read_text()
    assert read_in_c(text) is not None  # read in C, not left to Python
    same_both_ways(text)


def test_a_generated_roster_reads_the_same_with_its_lines() -> None:
    text = generate(300, 7)
    read = read_in_c(text)
    assert isinstance(read, tuple)
    root, lines = read
    assert root["agents"]["agent000007"]["user_id"] == "u-7"
    assert lines[("agents", "agent000007")] == text.splitlines().index("  agent000007:") + 1
    same_both_ways(text)


@pytest.mark.parametrize(
    "text",
    [
        "a: &x 1\nb: *x\n",  # anchors and aliases
        "a: !!str 1\n",  # a tag
        "a: 1\na: 2\n",  # a duplicate key: a problem, the first wins
        "? [a]\n: 1\n",  # a key that is not a scalar
        "a: 1\n---\nb: 2\n",  # a second document
        "",  # no document
        "a: [1, 2\n",  # a syntax error
        "a:\n\t- 1\n",  # a tab where YAML allows none
        "\ufeff...\n",  # a byte-order mark, then a document's end: a syntax error
    ],
)
def test_documents_left_to_python_read_as_before(text: str) -> None:
    assert read_in_c(text) is None
    same_both_ways(text)


@pytest.mark.parametrize(
    ("text", "limits"),
    [
        ("a: [1, 2, 3]\n", Limits(values=4)),
        ("a: [[[1]]]\n", Limits(depth=3)),
        ("a: 'éééé'\n", Limits(text=3)),
    ],
)
def test_documents_past_a_limit_are_refused_as_before(text: str, limits: Limits) -> None:
    assert read_in_c(text, limits) is None
    same_both_ways(text, limits)
    assert outcome(text, limits)[0] == "error"


def test_a_long_value_within_the_limit_in_characters_is_read_in_c() -> None:
    # 3 characters, 6 bytes: within a limit of 3 characters.
    assert read_in_c("a: 'ééé'\n", Limits(text=3)) == ({"a": "ééé"}, {("a",): 1})


def test_null_words_are_none_only_when_plain() -> None:
    text = "a: ~\nb: null\nc: 'null'\nd:\ne: NULL\nf: \"\"\ng: nil\n~: 1\n"
    assert read_in_c(text) == (
        {"a": None, "b": None, "c": "null", "d": None, "e": None, "f": "", "g": "nil", "~": "1"},
        {(k,): i for i, k in enumerate("abcdefg~", start=1)},
    )


# Scalars that YAML 1.1 would read as other types, quoted or not by the dumper.
words = st.sampled_from(
    ["on", "off", "yes", "no", "~", "null", "", "09:00", "+919953125068", "1e3", "a:b", "é", "- x"]
)
scalars = st.one_of(words, st.text(max_size=12), st.integers(), st.booleans(), st.none())
keys = st.one_of(words, st.text(min_size=1, max_size=8))
trees = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=trees, flow=st.sampled_from([None, True, False]))
def test_any_dumped_document_reads_the_same(tree: object, flow: bool | None) -> None:
    text = yaml.safe_dump(tree, default_flow_style=flow, allow_unicode=True, sort_keys=False)
    same_both_ways(text)


pieces = st.sampled_from(
    [
        "a: 1", "a:", "  - x", "  b: 2", "- y", "c: [1, 2]", "d: {e: f}", "&k g: 3", "h: *k",
        "i: !!str 4", "---", "...", "? j", ": 5", "k: 'l'", 'm: "n\\u00e9"', "o: |", "  text",
        "p: [", "q: ~", "  ", "# note", "r: &a [1]", "s: *a", "%YAML 1.1", "t: :",
    ]
)  # fmt: skip


@settings(max_examples=600, deadline=None)
@given(lines=st.lists(pieces, max_size=8))
def test_any_assembled_document_reads_the_same(lines: list[str]) -> None:
    same_both_ways("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    "text", ["\ufeffa:\n b: 1\n", "\ufeff---\n- a\n", "\ufeff---\n", "\ufeff--- x\n"]
)
def test_a_byte_order_mark_is_taken_as_one(text: str) -> None:
    # Windows editors write one; it is not a character before the first key.
    same_both_ways(text)
    with_c = outcome(text)
    assert with_c[0] == "read" and "\ufeff" not in repr(with_c[1])


def test_a_lone_surrogate_is_refused_with_its_line() -> None:
    # json.loads("\"\\ud800\"") gives one: a roster sent as JSON can hold it.
    assert outcome("a: 1\nb: \ud800\n") == (
        "error",
        [((), "YAML syntax error: a character that is not Unicode text (a lone surrogate)", 2)],
    )
    same_both_ways("a: 1\nb: \ud800\n")


@pytest.mark.parametrize(
    "limits", [Limits(depth=2**61), Limits(values=10**20), Limits(text=10**20), Limits(depth=1001)]
)
def test_limits_beyond_the_c_reader_are_read_in_python(limits: Limits) -> None:
    assert outcome("a: [1]\n", limits) == ("read", {"a": ["1"]}, {("a",): 1}, [])


def test_check_says_when_rosters_are_read_in_python_alone(tmp_path: Path) -> None:
    roster = tmp_path / "schedules.yaml"
    roster.write_text(generate(3, 1))
    settings = Settings.from_env({"SHIFTSWITCH_ROSTER": str(roster)})
    now = datetime(2026, 12, 7, tzinfo=UTC)
    assert health.roster(settings, now).detail == f"{roster}: valid, 3 agents"
    see = "(README: Roster format, Large rosters)"
    with python_alone(), mock.patch.object(yamldoc, "_fastyaml", None):
        found = health.roster(settings, now)
    assert found.ok
    assert found.detail == (
        f"{roster}: valid, 3 agents; read in Python alone, its C reader not built {see}"
    )
    with python_alone():  # built, but PyYAML has no libyaml of its own to match
        found = health.roster(settings, now)
    assert found.detail == (
        f"{roster}: valid, 3 agents; read in Python alone, PyYAML without libyaml {see}"
    )
