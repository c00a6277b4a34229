"""Prometheus metrics, served by each worker and scheduler process that is given a port.

Each process counts what it does itself (the Prometheus way: scrape every process), so nothing
is shared between processes and a scrape never touches the database:

- a worker: switches brought to a final status, HTTP attempts by status (429s among them), and
  lateness (finished minus due) of the switches that succeeded;
- the scheduler: actions handed to the broker, tick duration and the time of the last tick,
  and the depth of the broker's queue (read from Redis at scrape time).

Labels are the roster's account name, the action's source, status or outcome: never a user,
device or credential, so the series stay few and nothing secret leaves the process.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

REGISTRY = CollectorRegistry(auto_describe=True)

SWITCHES = Counter(
    "shiftswitch_switches",
    "Actions brought to a final status by this worker.",
    ["account", "source", "status"],
    registry=REGISTRY,
)
ATTEMPTS = Counter(
    "shiftswitch_attempts",
    "HTTP exchanges with Exotel by this worker; http_code is 'none' when no answer came.",
    ["account", "method", "outcome", "http_code"],
    registry=REGISTRY,
)
LATENESS = Histogram(
    "shiftswitch_lateness_seconds",
    "Switches that succeeded: seconds from the instant they were due to Exotel's answer.",
    ["account", "source"],
    buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800),
    registry=REGISTRY,
)
ENQUEUED = Counter(
    "shiftswitch_enqueued",
    "Actions this scheduler handed to the broker: kind due (at their boundary), reconcile, "
    "stranded (recorded before a restart, sent at start) or requeued (by the sweep).",
    ["kind"],
    registry=REGISTRY,
)
CHECKS = Counter(
    "shiftswitch_checks",
    "Reads of managed devices from Exotel by this scheduler: kind drift, read-back or "
    "first-read; result read or failed.",
    ["account", "kind", "result"],
    registry=REGISTRY,
)
DRIFTED = Counter(
    "shiftswitch_drifted_devices",
    "Devices a read found in another state than the one wanted (then corrected).",
    ["account", "kind"],
    registry=REGISTRY,
)
TICK_SECONDS = Histogram(
    "shiftswitch_tick_seconds",
    "Duration of one scheduler tick.",
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30),
    registry=REGISTRY,
)
LAST_TICK = Gauge(
    "shiftswitch_last_tick_timestamp_seconds",
    "Unix time at which this scheduler's last tick ended.",
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "shiftswitch_queue_depth",
    "Task messages waiting in the broker's queue (not yet taken by a worker).",
    registry=REGISTRY,
)


def serve(port: int, host: str = "0.0.0.0") -> None:  # noqa: S104 - scraped from outside
    """Serve ``/metrics`` on ``port`` from a background thread."""
    start_http_server(port, addr=host, registry=REGISTRY)


def watch_queue(depth: Callable[[], float]) -> None:
    """Report the queue depth by calling ``depth`` at each scrape."""
    QUEUE_DEPTH.set_function(depth)
