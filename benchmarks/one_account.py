"""One Exotel account's world for the benchmarks: its sandbox seed of ``n`` users with a desk
phone each, every device confirmed OFF in the database before the boundary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import insert

from shiftswitch.db import make_engine
from shiftswitch.models import DeviceState

SID = "acme_corp"
ACCOUNT = "main"  # the roster's name for it: credentials come from EXOTEL_MAIN_API_*
API_KEY = "bench-key"
API_TOKEN = "bench-token"  # noqa: S105 - the sandbox's own, a demo value
UNLIMITED = "100000/s"  # the roster rate when none is given: a slot every 10.6 us
DAY = datetime(2026, 11, 30, tzinfo=UTC)  # a Monday
BOUNDARY = DAY.replace(hour=9)
START = BOUNDARY - timedelta(seconds=1)


def device_id(i: int) -> str:
    return str(100000 + i)


def write_seed(path: Path, n: int, rate: str | None) -> None:
    users = [
        {
            "id": f"u-{i}",
            "first_name": f"Agent{i}",
            "devices": [
                {
                    "id": int(device_id(i)),
                    "name": "Desk",
                    "contact_uri": f"+91990{i:07d}",
                    "type": "tel",
                    "verified": True,
                    "available": False,
                }
            ],
        }
        for i in range(n)
    ]
    account: dict[str, Any] = {"api_key": API_KEY, "api_token": API_TOKEN, "users": users}
    if rate:
        account["rate_limit"] = rate
    path.write_text(yaml.safe_dump({"accounts": {SID: account}}, sort_keys=False))


def confirm_all_off(url: str, n: int) -> None:
    """A confirmed OFF state for every device, as if a reconcile had run: nothing to send."""
    engine = make_engine(url)
    at = START - timedelta(hours=1)
    rows = [
        {
            "account": ACCOUNT,
            "user_id": f"u-{i}",
            "device_id": device_id(i),
            "agent": f"a{i}",
            "device": "desk",
            "contact_uri": None,
            "available": False,
            "confirmed_at": at,
            "action_id": None,
        }
        for i in range(n)
    ]
    with engine.begin() as conn:
        conn.execute(insert(DeviceState), rows)
    engine.dispose()
