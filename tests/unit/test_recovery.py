"""What is lost, given the messages, the workers' heartbeats and the open actions (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shiftswitch.broker import _kwargs, message
from shiftswitch.models import Action, Status
from shiftswitch.recovery import Holdings, cover, lost, orphans

NOW = datetime(2026, 11, 30, 9, 1, tzinfo=UTC)
BOUNDARY = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
LOST_AFTER = timedelta(seconds=15)
GRACE = timedelta(minutes=16)


def action(
    id_: int,
    owner: str = "main/u-1",
    *,
    on: bool = True,
    due: datetime = BOUNDARY,
    enqueued: float | None = 60,  # seconds before NOW
    started: float | None = None,
    retry: float | None = None,  # seconds before NOW (negative: after)
) -> Action:
    def ago(s: float | None) -> datetime | None:
        return None if s is None else NOW - timedelta(seconds=s)

    return Action(
        id=id_,
        key=f"k{id_}",
        user_key=owner,
        account="main",
        user_id=owner.split("/")[1],
        device_id=f"d{id_}",
        agent=f"a{id_}",
        device="desk",
        wants_on=on,
        due_at=due,
        status=Status.QUEUED,
        enqueued_at=ago(enqueued),
        started_at=ago(started),
        retry_at=ago(retry),
    )


def user(owner: str, *actions: Action) -> dict[str, object]:
    return {"owner": owner, "actions": [message(a) for a in actions]}


# -- what a message covers ----------------------------------------------------------------------


def test_a_message_covers_each_user_up_to_their_last_action() -> None:
    a1, a2 = action(1, on=False), action(2, on=True)
    b3 = action(3, "main/u-2")
    covered = cover({"batch": [user("main/u-1", a2, a1), user("main/u-2", b3)]})
    assert covered == {"main/u-1": (BOUNDARY, True, 2), "main/u-2": (BOUNDARY, True, 3)}


def test_the_one_user_form_and_foreign_messages() -> None:
    a1 = action(1)
    assert cover({"owner": "main/u-1", "actions": [message(a1)]}) == {
        "main/u-1": (BOUNDARY, True, 1)
    }
    assert cover({}) == {}
    assert cover({"batch": [{"owner": "x"}], "other": 1}) == {}  # not one of ours


def test_an_open_action_of_a_covered_user_is_held_up_to_the_last_order() -> None:
    # The worker takes every open action of the user up to the last the message names: an
    # OFF recorded to go first (in no message) is held; a later one is not.
    sent = action(5, due=BOUNDARY)
    off_first = action(9, on=False, due=BOUNDARY)
    later = action(7, due=BOUNDARY + timedelta(hours=4))
    holdings = Holdings()
    holdings.add(cover({"batch": [user("main/u-1", sent)]}))
    assert holdings.holds(sent) and holdings.holds(off_first)
    assert not holdings.holds(later)
    assert not holdings.holds(action(6, "main/u-2"))
    assert Holdings.naming({6}).holds(action(6, "main/u-2"))


def test_the_broker_reads_the_users_of_a_kombu_payload() -> None:
    import base64  # noqa: PLC0415
    import json  # noqa: PLC0415

    kwargs = {"batch": [user("main/u-1", action(1))]}
    body = base64.b64encode(json.dumps([[], kwargs, {}]).encode()).decode()
    payload = {"body": body, "properties": {"body_encoding": "base64"}}
    assert _kwargs(json.dumps(payload)) == kwargs
    assert _kwargs(payload) == kwargs
    assert _kwargs(b"not json") == {}
    assert _kwargs({"body": "e30="}) == {}  # not a Celery message


# -- the messages of dead workers ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("taken_ago", "live", "orphaned"),
    [
        (30.0, set(), True),  # taken long ago, no live worker holds it: its worker died
        (30.0, {"t"}, False),  # a live worker holds it, however long: a countdown, a slow user
        (3.0, set(), False),  # just taken: not in its worker's heartbeat yet
        (10.5, set(), True),
        (9.5, set(), False),
    ],
)
def test_orphans(taken_ago: float, live: set[str], orphaned: bool) -> None:
    now = 1_000_000.0
    assert orphans({"t": now - taken_ago}, live, now, grace=10.0) == (["t"] if orphaned else [])


def test_orphans_among_many() -> None:
    now = 500.0
    taken = {"a": 100.0, "b": 100.0, "c": 499.0, "d": 200.0}
    assert orphans(taken, {"b"}, now, grace=10.0) == ["a", "d"]


# -- lost actions -------------------------------------------------------------------------------


def test_an_action_no_message_covers_is_lost_once_untouched_for_a_while() -> None:
    old, fresh = action(1, enqueued=20), action(2, "main/u-2", enqueued=5)
    started_lately = action(3, "main/u-3", enqueued=60, started=10)
    retry_due_later = action(4, "main/u-4", enqueued=60, retry=-30)
    found = lost([old, fresh, started_lately, retry_due_later], Holdings(), NOW, LOST_AFTER, GRACE)
    assert [a.id for a in found] == [1]


def test_an_action_a_message_covers_is_not_lost_until_the_long_grace() -> None:
    held = action(1, enqueued=600)
    holdings = Holdings()
    holdings.add({"main/u-1": (BOUNDARY, True, 1)})
    assert lost([held], holdings, NOW, LOST_AFTER, GRACE) == []
    ancient = action(1, enqueued=GRACE.total_seconds() + 1)
    assert lost([ancient], holdings, NOW, LOST_AFTER, GRACE) == [ancient]


def test_when_the_broker_cannot_tell_only_the_long_grace_counts() -> None:
    a = action(1, enqueued=600)
    assert lost([a], None, NOW, LOST_AFTER, GRACE) == []
    b = action(2, enqueued=GRACE.total_seconds() + 1)
    assert lost([a, b], None, NOW, LOST_AFTER, GRACE) == [b]
