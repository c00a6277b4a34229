"""The sandbox's seed file: read, defaults, and each mistake named with its place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shiftswitch.sandbox.seed import load_seed
from shiftswitch.sandbox.state import SeedError
from tests import EXAMPLE_SEED

SEED = str(EXAMPLE_SEED)


def test_the_repo_seed_matches_the_roster() -> None:
    seed = load_seed(SEED)
    account = seed.accounts["acme_corp"]
    assert (account.api_key, account.rate_limit) == ("demo-key", None)
    devices = {
        (u.id, d.id): (d.name, d.contact_uri, d.type) for u in account.users for d in u.devices
    }
    assert devices == {
        ("u-100", 100280): ("Desk", "+919953125001", "tel"),
        ("u-100", 100290): ("Mobile", "+919953125068", "tel"),
        ("u-101", 100281): ("Desk", "+919953125002", "tel"),
        ("u-102", 100282): ("Softphone", "sip:meera.k", "sip"),
    }
    assert "demo-token" not in repr(seed)


def test_seed_defaults_and_json(tmp_path: Path) -> None:
    path = tmp_path / "seed.json"
    device = [
        {"id": "d1", "contact_uri": "sip:a.b"},
        {"id": 7, "contact_uri": "+919900000001", "verified": False},
    ]
    path.write_text(
        json.dumps(
            {
                "accounts": {
                    "s1": {
                        "api_key": "k",
                        "api_token": "t",
                        "users": [{"id": 5, "first_name": "A", "devices": device}],
                    }
                }
            }
        )
    )
    user = load_seed(str(path)).accounts["s1"].users[0]
    assert user.id == "5"
    sip, tel = user.devices
    assert (sip.type, sip.verified, sip.available, sip.name) == ("sip", True, False, "")
    assert (tel.type, tel.verified, tel.available) == ("tel", False, None)


SEED_TEXT = EXAMPLE_SEED.read_text()


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'contact_uri: "+919953125068"',
            "contact_uri: +919953125068",
            "accounts.acme_corp.users[0].devices[1].contact_uri: quote the number",
        ),
        (
            'contact_uri: "+919953125068"',
            'contact_uri: "9953125068"',
            'accounts.acme_corp.users[0].devices[1].contact_uri: "9953125068" is not an E.164',
        ),
        (
            'contact_uri: "+919953125068"',
            'contact_uri: "+919953125001"',
            'devices[1].contact_uri: "+919953125001" is already used at '
            "accounts.acme_corp.users[0].devices[0].contact_uri",
        ),
        ("id: 100281", "id: 100280", 'users[1].devices[0].id: "100280" is already used'),
        ("id: u-101", "id: u-100", 'users[1].id: user "u-100" appears twice'),
        ("type: sip", "type: voip", 'users[2].devices[0].type: "voip" is not a device type'),
        ("api_key: demo-key", "api_kee: demo-key", "accounts.acme_corp.api_kee: unknown key"),
        ("    api_key: demo-key\n", "", "accounts.acme_corp.api_key: expected a non-empty string"),
        (
            "# rate_limit: 50/min",
            "rate_limit: often",
            "accounts.acme_corp.rate_limit: expected N/s",
        ),
        ("first_name: Ravi", "first_name: [Ravi]", "users[1].first_name: expected a non-empty"),
        (
            "verified: true, available: false}\n      - id: u-101",
            "verified: false, available: true}\n      - id: u-101",
            "users[0].devices[1].available: an unverified device",
        ),
        ("accounts:", "accounts: [", "line "),
    ],
)
def test_seed_errors_name_the_place(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in SEED_TEXT
    path = tmp_path / "sandbox.yaml"
    path.write_text(SEED_TEXT.replace(old, new, 1))
    with pytest.raises(SeedError) as caught:
        load_seed(str(path))
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_seed_allows_one_device_on_per_user(tmp_path: Path) -> None:
    path = tmp_path / "sandbox.yaml"
    path.write_text(SEED_TEXT.replace("available: false", "available: true", 1))
    assert load_seed(str(path)).accounts["acme_corp"].users[0].devices[0].available is True
    path.write_text(SEED_TEXT.replace("available: false", "available: true", 2))
    with pytest.raises(SeedError, match=r"users\[0\]\.devices\[1\]\.available: .* 100280 is ON"):
        load_seed(str(path))


def test_seed_file_problems(tmp_path: Path) -> None:
    with pytest.raises(SeedError, match="cannot read the seed"):
        load_seed(str(tmp_path / "missing.yaml"))
    bad = tmp_path / "seed.json"
    bad.write_text('{"accounts": ')
    with pytest.raises(SeedError, match=r"seed\.json: line 1: invalid JSON"):
        load_seed(str(bad))
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(SeedError, match=r"empty\.yaml: \(document\): expected a mapping"):
        load_seed(str(empty))
