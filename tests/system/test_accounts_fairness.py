"""Fifty accounts at one boundary, at a small scale: real scheduler and worker processes
against a sandbox of fifty Exotel accounts, each limited to 30 requests a minute. No account
waits for another's backlog: every account's first switch goes before any account's second
(which its own limit holds two seconds back), each account's switches keep its spacing (no
429), and every device is switched ON once. Order and fairness, not timing: the issue's
figures are measured by ``benchmarks/bench_accounts.py --group``.
"""

from __future__ import annotations

import collections
from pathlib import Path

from shiftswitch.settings import credential_variables
from tests.pipeline import assign_all_from, credentials_of, pipeline, user, wait_until

ACCOUNTS = 50
AGENTS = 3  # per account: the first, then two more a spacing (2 s) apart each
RATE = "30/min"
AHEAD = 4  # seconds from the roster's edit to the boundary


def roster(base_url: str) -> str:
    lines = ["version: 1", "timezone: UTC", "accounts:"]
    lines += [
        f"  c{k:02d}: {{sid: c{k:02d}_corp, base_url: '{base_url}', rate_limit: '{RATE}'}}"
        for k in range(ACCOUNTS)
    ]
    lines.append("agents:")
    for k in range(ACCOUNTS):
        lines += [
            f"  c{k:02d}a{i}: {{account: c{k:02d}, user_id: 'c{k}-u{i}', "
            f"devices: {{desk: 'c{k}-d{i}'}}}}"
            for i in range(AGENTS)
        ]
    return "\n".join(lines) + "\nshifts: []\n"


def test_fifty_accounts_at_one_boundary_each_goes_first_none_waits_for_another(
    tmp_path: Path, postgres_url: str
) -> None:
    accounts = {
        f"c{k:02d}_corp": [
            user(f"c{k}-u{i}", (f"c{k}-d{i}", "Desk", f"+9198{k:02d}{i:06d}"))
            for i in range(AGENTS)
        ]
        for k in range(ACCOUNTS)
    }
    keys = {}
    for k in range(ACCOUNTS):
        key_env, token_env = credential_variables(f"c{k:02d}")
        keys[key_env], keys[token_env] = credentials_of(f"c{k:02d}_corp")
    agents = {f"c{k:02d}a{i}": None for k in range(ACCOUNTS) for i in range(AGENTS)}
    with pipeline(tmp_path, postgres_url, [], roster, sandbox_rate_limit=RATE, env=keys,
                  more_accounts=accounts) as p:  # fmt: skip
        p.start_worker(concurrency=8)
        p.start_scheduler_process("--tick", "0.5")
        assign_all_from(p.roster_path, agents, AHEAD)
        total = ACCOUNTS * AGENTS
        wait_until(
            lambda: len([r for r in p.puts() if r["status"] == 200]) >= total,
            AHEAD + 60,
            "every device switched ON",
            detail=lambda: collections.Counter(a.status for a in p.actions()),
        )
        puts = p.puts()
    by_account: dict[str, list[float]] = collections.defaultdict(list)
    for r in sorted(puts, key=lambda r: r["started"]):
        by_account[r["account"]].append(r["started"])
    assert set(by_account) == set(accounts)
    assert collections.Counter(r["device_id"] for r in puts) == {
        f"c{k}-d{i}": 1 for k in range(ACCOUNTS) for i in range(AGENTS)
    }, "each device switched ON once"
    assert all(r["status"] == 200 for r in puts), "no 429: every account kept its spacing"
    last_first = max(starts[0] for starts in by_account.values())
    first_second = min(starts[1] for starts in by_account.values())
    assert last_first < first_second, "an account's first switch waited for another's second"
