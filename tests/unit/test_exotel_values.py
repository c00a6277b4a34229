"""The Exotel client's pure parts: reading Retry-After, the session it pools, outcome lines."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import certifi
import pytest
import urllib3

from shiftswitch.exotel import Kind, Outcome, _retry_after
from shiftswitch.exotel_transport import environment_options, proxy_for, session


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 1.5 ", 1.5),
        ("Wed, 01 Jul 2026 12:00:30 GMT", 30.0),
        ("Wed, 01 Jul 2026 11:59:00 GMT", 0.0),  # in the past: go now
        ("Wed, 01 Jul 2026 12:00:10 -0000", 10.0),
        (None, None),
        ("", None),
        ("-5", None),
        ("inf", None),
        ("nan", None),
        ("soon", None),
    ],
)
def test_retry_after_values(value: str | None, seconds: float | None) -> None:
    assert _retry_after(value, datetime(2026, 7, 1, 12, 0, tzinfo=UTC)) == seconds


def test_session_pools_and_never_retries() -> None:
    s = session()
    direct = s.manager(None, certifi.where())
    assert direct.connection_pool_kw["retries"].total is False
    assert direct.connection_pool_kw["maxsize"] == 64
    assert direct.connection_pool_kw["ca_certs"] == certifi.where()
    assert s.manager(None, certifi.where()) is direct  # one pool per host for every client
    s.close()


def test_a_proxy_has_pools_of_its_own_and_its_login_goes_in_a_header() -> None:
    s = session(pool_size=3)
    proxied = s.manager("http://ops:s%40cret@proxy.example:3128", "/etc/ssl/corp.pem")
    assert isinstance(proxied, urllib3.ProxyManager)
    assert proxied.proxy is not None and proxied.proxy.host == "proxy.example"
    assert proxied.connection_pool_kw["maxsize"] == 3
    assert proxied.connection_pool_kw["ca_certs"] == "/etc/ssl/corp.pem"
    login = base64.b64encode(b"ops:s@cret").decode()
    assert proxied.proxy_headers["proxy-authorization"] == f"Basic {login}"
    assert s.manager(None, certifi.where()) is not proxied
    s.close()


def test_outcome_summary_without_description() -> None:
    outcome = Outcome(Kind.FINAL, 418, None, None, None, None, 0.1)
    assert outcome.summary() == "418 no description"


def test_the_environment_is_read_once_per_client_not_per_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/corp.pem")
    options = environment_options("https://ccm-api.exotel.com")
    assert options["proxies"]["https"] == "http://proxy.example:3128"
    assert options["verify"] == "/etc/ssl/corp.pem"
    monkeypatch.setenv("NO_PROXY", "exotel.com")
    assert not environment_options("https://ccm-api.exotel.com")["proxies"]
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    assert "verify" not in environment_options("https://ccm-api.exotel.com")


def test_a_proxy_without_a_scheme_is_taken_as_http_as_requests_does() -> None:
    url = "https://ccm-api.exotel.com"
    assert proxy_for(url, {"https": "proxy.corp:3128"}) == "http://proxy.corp:3128"
    assert proxy_for(url, {"all": "socks5://proxy.corp:1080"}) == "socks5://proxy.corp:1080"
    assert proxy_for(url, {"http": "proxy.corp:3128"}) is None


def test_a_directory_of_certificates_is_given_as_one(tmp_path: Path) -> None:
    s = session()
    assert s.manager(None, str(tmp_path)).connection_pool_kw["ca_cert_dir"] == str(tmp_path)
    s.close()
