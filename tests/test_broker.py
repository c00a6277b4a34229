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
