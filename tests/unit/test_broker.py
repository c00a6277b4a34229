"""How a boundary's users are cut into task messages (pure)."""

from __future__ import annotations

import pytest

from shiftswitch.broker import SPREAD, USERS_PER_MESSAGE, batches


@pytest.mark.parametrize(
    ("users", "per_message", "messages"),
    [
        (0, 0, 0),
        (1, 1, 1),
        (SPREAD, 1, SPREAD),  # small boundaries: every user applied at once
        (SPREAD + 1, 2, (SPREAD + 2) // 2),
        (2_000, USERS_PER_MESSAGE, 125),
        (10_000, USERS_PER_MESSAGE, 625),
    ],
)
def test_users_per_message_grow_with_the_boundary_up_to_a_bound(
    users: int, per_message: int, messages: int
) -> None:
    groups = [(f"main/u-{i}", []) for i in range(users)]
    cut = batches(groups)
    assert len(cut) == messages
    assert max((len(b) for b in cut), default=0) == per_message
    assert [g for b in cut for g in b] == groups  # every user once, in order


def test_a_dead_workers_restore_mutex_does_not_hold_restores_for_minutes() -> None:
    from shiftswitch.broker import make_celery  # noqa: PLC0415
    from shiftswitch.settings import Settings  # noqa: PLC0415

    for visibility, expected in ((5, 5), (900, 60)):
        options = make_celery(Settings(visibility_timeout=visibility)).conf.broker_transport_options
        assert options["unacked_mutex_expire"] == expected  # kombu's own default: 300 s
        assert options["visibility_timeout"] == visibility
