"""Two ``shiftswitch roster import`` processes at once, on SQLite and PostgreSQL: both are
recorded, one after the other."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests import EXAMPLE_ROSTER
from tests.commands import shiftswitch

SHIFTSWITCH = str(Path(sys.executable).parent / "shiftswitch")


def test_two_imports_at_once_are_both_recorded_one_after_the_other(
    database_url: str, tmp_path: Path
) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(  # the morning shift every day, at weekends on the weekend shift's device
        EXAMPLE_ROSTER.read_text()
        .replace('"0 9 * * mon-fri"', '"0 9 * * *"')
        .replace('["asha:mobile"]', '["asha:desk"]')
    )
    env = {**os.environ, "DATABASE_URL": database_url}
    procs = [
        subprocess.Popen(
            [SHIFTSWITCH, "roster", "import", str(path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in (EXAMPLE_ROSTER, other)
    ]
    for proc in procs:
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    versions = json.loads(shiftswitch("roster", "versions", "--json", env=env).stdout)
    assert [v["number"] for v in versions] == [1, 2]
    assert str(versions[0]["summary"]).startswith("first roster")
    # each against the one before it: the second saw the first whole
    assert versions[1]["summary"] == "shifts ~2 (weekday-morning, weekend-support)"
    last = shiftswitch("roster", "export", "--version", "2", env=env).stdout
    assert shiftswitch("roster", "export", env=env).stdout == last
