"""The Prometheus alerts (deploy/prometheus) and the Grafana dashboard (deploy/grafana), checked.

promtool checks the rules and runs their unit tests (alerts_test.yml); every metric an alert
or a panel asks for must be one shiftswitch.metrics serves, and every alert must say how bad
it is, what happened and where the README tells what to do.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from shiftswitch.metrics import REGISTRY
from tests import ROOT

ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
ALERTS_TEST = ROOT / "deploy" / "prometheus" / "alerts_test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "shiftswitch.json"
README = ROOT / "README.md"
RUNBOOK = "https://github.com/shiftswitch/shiftswitch/blob/main/README.md#"

METRIC = re.compile(r"\bshiftswitch_[a-zA-Z0-9_]*")
# The series each kind of metric family is exposed as (a Counter's family name has no _total).
SERIES_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
}


# -- promtool --------------------------------------------------------------------------------------


def find_promtool() -> str:
    """promtool's path. Without it, a test fails under CI (which installs it) and is skipped
    elsewhere. Called by the test itself, so that under CI it is reported failed."""
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is not on PATH: .ci/run installs it (Debian package prometheus)")
        pytest.skip("promtool is not on PATH (apt-get install prometheus); CI installs it")
    return found


def run(command: list[str], cwd: Path = ROOT) -> None:
    done = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, (
        f"{' '.join(command)} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    )


def test_promtool_checks_the_rules() -> None:
    run([find_promtool(), "check", "rules", str(ALERTS.relative_to(ROOT))])


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    run([find_promtool(), "test", "rules", str(ALERTS_TEST.relative_to(ROOT))])


def test_the_dashboards_queries_parse(tmp_path: Path) -> None:
    """Each panel's query, with Grafana's variables given values, is valid PromQL."""
    promtool = find_promtool()
    values = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "6h"}
    rules: list[dict[str, str]] = []
    for n, query in enumerate(dashboard_exprs()):
        expr = re.sub(r"\$\{?account\}?", ".*", query)
        for variable, value in values.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, f"a Grafana variable this test does not know: {query}"
        rules.append({"record": f"dashboard:query_{n}", "expr": expr})
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    run([promtool, "check", "rules", str(path)])


# -- metric names ----------------------------------------------------------------------------------


def served_series() -> dict[str, str]:
    """Every series name shiftswitch.metrics can serve, to the family that serves it."""
    names: dict[str, str] = {}
    for family in REGISTRY.collect():
        for suffix in SERIES_SUFFIXES[family.type]:
            names[family.name + suffix] = family.name
    return names


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def panels(within: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in within:
        yield panel
        yield from panels(panel.get("panels", []))  # a collapsed row holds its panels


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def dashboard_exprs() -> list[str]:
    return [
        target["expr"]
        for panel in panels(dashboard()["panels"])
        for target in panel.get("targets", [])
    ]


def unknown_metrics(exprs: list[str]) -> list[str]:
    served = served_series()
    return sorted({name for expr in exprs for name in METRIC.findall(expr)} - set(served))


def test_the_served_series_are_the_ones_the_readme_lists() -> None:
    served = served_series()
    assert "shiftswitch_switches_total" in served
    assert "shiftswitch_lateness_seconds_bucket" in served
    assert "shiftswitch_queue_depth" in served
    assert "shiftswitch_switches" not in served  # a counter is served with _total


def test_the_alerts_ask_only_for_metrics_shiftswitch_serves() -> None:
    exprs = [rule["expr"] for rule in alert_rules()]
    assert all(METRIC.search(expr) for expr in exprs)
    assert unknown_metrics(exprs) == []


def test_the_dashboard_asks_only_for_metrics_shiftswitch_serves() -> None:
    board = dashboard()
    exprs = dashboard_exprs()
    variables = [json.dumps(variable.get("query", "")) for variable in board["templating"]["list"]]
    assert len(exprs) >= 10
    assert unknown_metrics(exprs + variables) == []
    # Every metric is on a panel (the last tick as its age).
    shown = {served_series()[name] for expr in exprs for name in METRIC.findall(expr)}
    assert shown == {family.name for family in REGISTRY.collect()}


def test_every_panel_queries_the_chosen_prometheus() -> None:
    board = dashboard()
    assert 36 <= board["schemaVersion"] <= 41
    variable = next(v for v in board["templating"]["list"] if v["name"] == "datasource")
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
    ids = []
    for panel in panels(board["panels"]):
        ids.append(panel["id"])
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        for target in [panel, *panel["targets"]]:
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    assert len(ids) == len(set(ids))


def test_the_dashboard_has_the_panels_operations_look_for() -> None:
    exprs = "\n".join(dashboard_exprs())
    for wanted in (
        "rate(shiftswitch_switches_total",
        "sum by (status)",
        "histogram_quantile(0.99, sum by (account, le) (rate(shiftswitch_lateness_seconds_bucket",
        "histogram_quantile(0.5, sum by (account, le) (rate(shiftswitch_lateness_seconds_bucket",
        "shiftswitch_queue_depth",
        'http_code="429"',
        "increase(shiftswitch_drifted_devices_total",
        "sum by (kind, result) (rate(shiftswitch_checks_total",
        "shiftswitch_tick_seconds_bucket",
        "time() - (shiftswitch_last_tick_timestamp_seconds",
    ):
        assert wanted in exprs, wanted


# -- the alerts' labels and annotations ------------------------------------------------------------


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of ``markdown`` (lowercase, punctuation dropped,
    spaces to hyphens, -1, -2 ... after a repeated one); '#' lines in code blocks are none."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in markdown.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        heading = re.match(r"#{1,6}\s+(.+?)\s*#*\s*$", line)
        if fenced or heading is None:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def test_github_anchors() -> None:
    text = """# A b
```sh
# not a heading
```
## When Exotel is down
### Request spacing and 429s, `--metrics-port`
## A b
"""
    assert github_anchors(text) == {
        "a-b", "when-exotel-is-down", "request-spacing-and-429s---metrics-port", "a-b-1"
    }  # fmt: skip


def test_every_alert_says_how_bad_what_and_where_to_read() -> None:
    anchors = github_anchors(README.read_text())
    assert {"metrics", "when-exotel-is-down", "request-spacing-and-429s"} <= anchors
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    for rule in rules:
        name = rule["alert"]
        assert re.fullmatch(r"Shiftswitch(?:[A-Z][a-z0-9]*|[0-9]+)+", name), name
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        notes = rule["annotations"]
        assert notes["summary"].strip() and notes["description"].strip(), name
        url = notes["runbook_url"]
        assert url.startswith(RUNBOOK), (name, url)
        assert url.removeprefix(RUNBOOK) in anchors, (name, url, sorted(anchors))


def test_every_alert_has_a_case_firing_and_one_silent() -> None:
    cases = [
        case for test in yaml.safe_load(ALERTS_TEST.read_text())["tests"]
        for case in test["alert_rule_test"]
    ]  # fmt: skip
    for rule in alert_rules():
        mine = [case for case in cases if case["alertname"] == rule["alert"]]
        assert any(case.get("exp_alerts") for case in mine), f"{rule['alert']} never fires"
        assert any(not case.get("exp_alerts") for case in mine), f"{rule['alert']} never silent"
