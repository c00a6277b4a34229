"""Where the Exotel credentials may go: Exotel's regions, and the hosts that
SHIFTSWITCH_ALLOWED_BASE_URLS allows besides; a roster naming any other is refused."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shiftswitch.hosts import VARIABLE, AllowedHosts
from shiftswitch.planning.validation import validate_text
from shiftswitch.settings import ConfigError, Settings
from tests.commands import shiftswitch
from tests.unit.test_validation import BASE, edit

NOW = datetime(2026, 11, 30, tzinfo=UTC)
SANDBOX = AllowedHosts.parse("http://127.0.0.1, https://exotel-proxy.example:8443")


@pytest.mark.parametrize(
    ("base_url", "allowed"),
    [
        ("https://ccm-api.exotel.com", True),  # Exotel's, whatever the environment says
        ("https://ccm-api.in.exotel.com:443", True),
        ("https://CCM-API.exotel.com/", True),
        ("http://ccm-api.exotel.com", False),  # not over TLS
        ("https://ccm-api.exotel.com:8443", False),
        ("https://ccm-api.exotel.com.evil.example", False),
        ("http://127.0.0.1:8090", True),  # allowed on any port
        ("http://127.0.0.1", True),
        ("https://127.0.0.1:8090", False),  # another scheme
        ("http://127.0.0.2:8090", False),
        ("http://localhost:8090", False),  # another name for it is another host
        ("https://exotel-proxy.example:8443", True),  # allowed on this port only
        ("https://exotel-proxy.example", False),
        ("http://127.0.0.1:8090/v2", False),
        ("http://user@127.0.0.1:8090", False),
        ("ftp://127.0.0.1", False),
        ("127.0.0.1:8090", False),
        ("http://127.0.0.1:99999", False),
    ],
)
def test_what_a_base_url_may_name(base_url: str, allowed: bool) -> None:
    assert SANDBOX.allows(base_url) is allowed


def test_nothing_but_exotel_by_default() -> None:
    none = AllowedHosts.from_env({})
    assert none.allows("https://ccm-api.exotel.com")
    assert not none.allows("http://127.0.0.1:8090")


@pytest.mark.parametrize(
    "value", ["127.0.0.1", "http://127.0.0.1/v2", "http://127.0.0.1:http", "file:///etc"]
)
def test_a_bad_entry_stops_every_process_at_its_start_with_one_line(value: str) -> None:
    with pytest.raises(ConfigError, match=f"^{VARIABLE}: .* is not scheme://host"):
        Settings.from_env({VARIABLE: f"https://ok.example, {value}"})


FOREIGN = edit("region: singapore", "base_url: https://collector.example:8443")


def test_a_roster_naming_another_host_is_refused_with_its_place() -> None:
    report = validate_text(FOREIGN, NOW, AllowedHosts())
    assert not report.ok
    [problem] = report.errors
    assert (problem.place, problem.line) == ("accounts.main.base_url", 6)
    assert problem.message == (
        "https://collector.example:8443 is not Exotel's (use region: singapore or mumbai); "
        f"a local stand-in must be allowed by {VARIABLE} (for example http://127.0.0.1)"
    )
    allowed = AllowedHosts.parse("https://collector.example:8443")
    assert validate_text(FOREIGN, NOW, allowed).ok
    assert validate_text(BASE, NOW, AllowedHosts()).ok  # a region needs nothing allowed


def test_roster_validate_refuses_it_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "roster.yaml").write_text(FOREIGN)
    env = {k: v for k, v in os.environ.items() if k != VARIABLE}
    done = shiftswitch("roster", "validate", "roster.yaml", cwd=tmp_path, env=env)
    assert done.returncode == 1
    assert done.stderr.startswith(
        "roster.yaml:6: accounts.main.base_url: https://collector.example:8443 is not Exotel's"
    )
    env[VARIABLE] = "https://collector.example"
    done = shiftswitch("roster", "validate", "roster.yaml", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
