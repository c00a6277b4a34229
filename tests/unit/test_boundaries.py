"""Boundaries counted: the switches of one account at one instant, by outcome, with their
lateness and progress; the next ones from the plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from shiftswitch.boundaries import ahead, joined, recorded
from shiftswitch.planning.transitions import Transition

AT = datetime(2026, 12, 7, 13, 30, tzinfo=UTC)


def test_a_running_boundary_counts_each_outcome_and_its_progress() -> None:
    counts = [
        (AT, "main", True, "succeeded", 500), (AT, "main", True, "failed", 3),
        (AT, "main", True, "queued", 297), (AT, "main", False, "succeeded", 790),
        (AT, "south", True, "blocked", 2), (AT - timedelta(hours=1), "main", False,
                                              "superseded", 4),
    ]  # fmt: skip
    late = [(AT, "main", 0.1, 30.0)]  # median and worst, as the database sums them
    main, south, earlier = recorded(counts, late)
    assert (main.account, main.ons, main.offs, main.due) == ("main", 800, 790, 1590)
    assert (main.confirmed, main.failed, main.to_go, main.running) == (1290, 3, 297, True)
    assert round(main.progress, 3) == round(1293 / 1590, 3)
    assert (main.late_p50, main.late_max) == (0.1, 30.0)
    assert main.as_json()["late_p50_s"] == 0.1
    assert (south.blocked, south.running, south.progress) == (2, False, 1.0)
    assert (earlier.superseded, earlier.at) == (4, AT - timedelta(hours=1))


def transition(at: datetime, agent: str, on: bool, account: str = "main") -> Transition:
    return Transition(
        at=at, agent=agent, account=account, user_id=None, device="desk", device_id=None,
        contact_uri=None, available=on, shift="day", override=None, zone=ZoneInfo("UTC"),
        boundary=None,
    )  # fmt: skip


def test_the_next_boundaries_are_counted_by_instant_and_account() -> None:
    later = AT + timedelta(hours=1)
    plan = [
        transition(AT, "a", False), transition(AT, "b", True), transition(AT, "c", True, "x"),
        transition(later, "a", True), transition(later + timedelta(hours=1), "b", False),
    ]  # fmt: skip
    found = ahead(plan, 2)
    assert [(b.at, b.account, b.ons, b.offs) for b in found] == [
        (AT, "main", 1, 1), (AT, "x", 1, 0), (later, "main", 1, 0),
    ]  # fmt: skip


def test_a_ramp_under_way_is_one_boundary_its_rest_still_to_go() -> None:
    # Two of 13:30's ramped ONs sent and confirmed; three still in the plan, ramped before
    # 13:30 (boundary 13:30), and 14:00 after it.
    found = recorded([(AT, "main", True, "succeeded", 2)])
    plan = [
        transition(AT - timedelta(seconds=30 - 10 * k), f"a{k}", True)._replace(boundary=AT)
        for k in range(3)
    ] + [transition(AT + timedelta(minutes=30), "b", True)]
    coming = joined(found, plan, 3)
    [ramp] = found
    assert (ramp.ons, ramp.confirmed, ramp.to_go, ramp.running) == (5, 2, 3, True)
    assert [(b.at, b.ons) for b in coming] == [(AT + timedelta(minutes=30), 1)]


def test_a_ramp_under_way_counts_its_rest_among_other_instants() -> None:
    # The ramp's ONs still to go come after three OFFs of other instants (three instants are
    # what the next boundaries show); one of them was recorded already, then moved later.
    found = recorded([(AT, "main", True, "succeeded", 2)])
    offs = [transition(AT - timedelta(seconds=29 - k), f"o{k}", False) for k in range(3)]
    ramp = [
        transition(AT - timedelta(seconds=20 - 5 * k), f"a{k}", True)._replace(boundary=AT)
        for k in range(3)
    ]
    later = [transition(AT + timedelta(hours=1), "b", True)]
    coming = joined(found, offs + ramp + later, 3, sent={ramp[0].key})
    [under_way] = found
    assert (under_way.ons, under_way.to_go, under_way.running) == (4, 2, True)
    assert [b.at for b in coming] == [t.at for t in offs]  # the next three instants
