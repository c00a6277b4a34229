"""Importing a month of a WFM export, and planning with dated assignments.

Generates a roster of ``--agents`` agents (one account, one device each, no cron shifts) and a
CSV export of ``--days`` days: each agent works 5 days in 7 (days off staggered), 6 to 9 hours
from a start between 06:00 and 13:00; one working day in four has a lunch break (three rows:
Phone, Lunch, Phone), the others one Phone row. At 10,000 agents and 28 days that is 300,000
rows (about 14 MB), which make 250,000 assignments and breaks. Then, each step in a fresh
process (its wall time and peak RSS its own):

- ``dry-run``: ``shiftswitch roster import-shifts month.csv --mapping MAP --dry-run`` against
  the stored roster: read, check and compare, nothing written;
- ``import``: the same without ``--dry-run``: the stored roster's new version written;
- ``again``: the same file once more (nothing changes, nothing is written);
- ``rollback to it``: after a rollback to the roster before it, ``roster rollback`` to the
  import's version (its 250,000 assignments read back from the version's text);
- ``plan``: ``Planner(roster).transitions(now, now + 7 days)`` of the roster with the
  assignments (best of 3, in-process, with the collector paused as the scheduler does), next to
  the same agents on cron shifts of the same hours.

    python benchmarks/bench_import.py [--agents 10000] [--days 28] [--database postgres|sqlite|URL]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import database, show

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
FIRST_DAY = date(2026, 12, 7)
MAPPING = "activity: activity\non: [Phone]\noff: [Lunch]\n"


def roster_text(agents: int, cron: bool = False) -> str:
    lines = [
        "version: 1",
        "timezone: Asia/Kolkata",
        "accounts:",
        '  main: {sid: acme, base_url: "http://127.0.0.1:8090", rate_limit: 50/min}',
        "agents:",
    ]
    lines += [
        f'  a{i:05d}: {{account: main, user_id: u-{i}, devices: {{desk: "{100000 + i}"}}}}'
        for i in range(agents)
    ]
    if not cron:
        return "\n".join([*lines, "shifts: []"]) + "\n"
    # The same hours as cron shifts: one shift per (start hour, length, days off).
    lines.append("shifts:")
    groups: dict[tuple[int, int, int], list[str]] = {}
    for i in range(agents):
        groups.setdefault(_pattern(i), []).append(f"a{i:05d}")
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    for (hour, hours, off), members in sorted(groups.items()):
        on = ",".join(d for k, d in enumerate(days) if k not in (off, (off + 1) % 7))
        lines.append(
            f'  - {{name: s{hour}-{hours}-{off}, start: "0 {hour} * * {on}", duration: {hours}h, '
            f"members: [{', '.join(members)}]}}"
        )
    return "\n".join(lines) + "\n"


def _pattern(i: int) -> tuple[int, int, int]:
    """(start hour, hours, first day off: 0 = Monday) of agent ``i``."""
    return 6 + i % 8, 6 + i % 4, i % 7


def month_csv(agents: int, days: int) -> str:
    rows = ["agent,start,end,activity"]
    for i in range(agents):
        hour, hours, off = _pattern(i)
        worked = 0
        for d in range(days):
            day = FIRST_DAY + timedelta(days=d)
            if day.weekday() in (off, (off + 1) % 7):
                continue
            worked += 1
            start = datetime.combine(day, datetime.min.time()).replace(hour=hour)
            end = start + timedelta(hours=hours)
            name = f"a{i:05d}"
            if worked % 4 == 1:
                lunch = start + timedelta(hours=hours // 2)
                back = lunch + timedelta(minutes=30)
                rows += [
                    f"{name},{start:%Y-%m-%dT%H:%M},{lunch:%Y-%m-%dT%H:%M},Phone",
                    f"{name},{lunch:%Y-%m-%dT%H:%M},{back:%Y-%m-%dT%H:%M},Lunch",
                    f"{name},{back:%Y-%m-%dT%H:%M},{end:%Y-%m-%dT%H:%M},Phone",
                ]
            else:
                rows.append(f"{name},{start:%Y-%m-%dT%H:%M},{end:%Y-%m-%dT%H:%M},Phone")
    return "\n".join(rows) + "\n"


def cli(args: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """Run ``shiftswitch ARGS`` in a fresh process: wall time, peak RSS and what it said."""
    code = (
        "import resource, subprocess, sys, time, json\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "wall = time.perf_counter() - t\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(json.dumps({'rc': p.returncode, 'seconds': round(wall, 2),"
        " 'peak_rss_mib': round(rss), 'out': p.stdout[-600:], 'err': p.stderr[-600:]}))\n"
    )
    proc = subprocess.run(  # noqa: S603 - our own interpreter and command
        [sys.executable, "-c", code, sys.executable, "-m", "shiftswitch", *args],
        env=env, cwd=cwd, capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(proc.stdout)
    if result["rc"] != 0:
        raise SystemExit(f"shiftswitch {' '.join(args)} failed:\n{result['err']}")
    return result


def plan_week(agents: int, days: int) -> dict[str, Any]:
    """Plan 7 days of the roster with assignments, and of the same hours as cron shifts."""
    from shiftswitch import heap  # noqa: PLC0415
    from shiftswitch.planning.planner import Planner  # noqa: PLC0415
    from shiftswitch.planning.validation import validate_built, validate_text  # noqa: PLC0415
    from shiftswitch.wfm.csvfile import read_csv  # noqa: PLC0415
    from shiftswitch.wfm.layout import read_layout  # noqa: PLC0415
    from shiftswitch.wfm.shifts import assignments, matched, put_in  # noqa: PLC0415

    out: dict[str, Any] = {}
    base = validate_text(roster_text(agents), NOW).roster
    assert base is not None
    layout = read_layout(MAPPING, "map.yaml")
    rows, _ = read_csv(month_csv(agents, days), "month.csv", layout, base.zone)
    found = matched(rows, base, layout, "month.csv", "agent")
    dated = validate_built(put_in(base, assignments(found), set(base.agents)).roster, NOW)
    cron = validate_text(roster_text(agents, cron=True), NOW).roster
    for name, roster in (("assignments", dated.roster), ("cron shifts", cron)):
        assert roster is not None
        best, count = float("inf"), 0
        for _ in range(3):
            t0 = time.perf_counter()
            with heap.paused():
                count = len(Planner(roster).transitions(NOW, NOW + timedelta(days=7)))
            best = min(best, time.perf_counter() - t0)
        out[f"plan 7 days, {name}"] = f"{best:.3f} s best of 3 ({count:,} transitions)"
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=10000)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument(
        "--database", default="postgres", help="postgres (default), sqlite or a URL"
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--skip-plan", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-import-"))
    (tmp / "roster.yaml").write_text(roster_text(args.agents))
    csv = month_csv(args.agents, args.days)
    (tmp / "month.csv").write_text(csv)
    (tmp / "map.yaml").write_text(MAPPING)
    result: dict[str, Any] = {
        "agents": args.agents,
        "rows": csv.count("\n") - 1,
        "file": f"{len(csv.encode()) / 1e6:.1f} MB",
    }
    with database(args.database, tmp) as url:
        env = {**os.environ, "DATABASE_URL": url}
        env.pop("SHIFTSWITCH_ROSTER_SOURCE", None)
        cli(["db", "upgrade"], env, tmp)
        cli(["roster", "import", "roster.yaml"], env, tmp)
        shifts = ["roster", "import-shifts", "month.csv", "--mapping", "map.yaml"]
        for step, extra in (("dry-run", ["--dry-run"]), ("import", []), ("again", [])):
            done = cli([*shifts, *extra], env, tmp)
            result[step] = f"{done['seconds']:.2f} s, peak RSS {done['peak_rss_mib']} MiB"
        # Back to the roster before it (no assignments), then to the import's version again.
        cli(["roster", "rollback", "1"], env, tmp)
        done = cli(["roster", "rollback", "2"], env, tmp)
        result["rollback to it"] = f"{done['seconds']:.2f} s, peak RSS {done['peak_rss_mib']} MiB"
        result["database"] = url.split("://")[0]
    if not args.skip_plan:
        result.update(plan_week(args.agents, args.days))
    result["machine"] = f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    show(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
