"""The options several commands share, declared once."""

from __future__ import annotations

import click

roster_option = click.option(
    "--roster",
    "roster_path",
    metavar="FILE",
    help="Roster file (default: $SHIFTSWITCH_ROSTER or schedules.yaml).",
)
loglevel_option = click.option(
    "--loglevel", default="info", show_default=True, help="debug, info, warning, error."
)
metrics_option = click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    envvar="SHIFTSWITCH_METRICS_PORT",
    help="Serve Prometheus metrics on this port (/metrics); env SHIFTSWITCH_METRICS_PORT.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
wait_option = click.option("--wait", is_flag=True, help="Wait for the result and print it.")
timeout_option = click.option(
    "--timeout",
    type=click.FloatRange(1, 3600),
    default=120.0,
    show_default=True,
    help="With --wait: seconds.",
)

account_option = click.option(
    "--account", metavar="NAME", help="Only this roster account (default: every account)."
)

by_option = click.option(
    "--by", metavar="NAME", help="Who makes the change, for the version (default: the OS user)."
)

# A roster version's number, as the database stores it (a 32-bit integer).
VERSION = click.IntRange(1, 2**31 - 1)
