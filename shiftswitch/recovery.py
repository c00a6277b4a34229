"""What is lost, given the task messages, the workers' heartbeats and the open actions (pure).

A task message names users (``owner``) and, for each, the actions it was sent for; the worker
that runs it applies every open action of the user up to the last of those, in apply order
(:func:`~shiftswitch.actions.apply_order`). So a message *covers* each of its users up to an
order, and an open action is held when some message covers its user that far: one waiting in
the queue, one a worker took (kombu's ``unacked`` hash), or one a live worker says it holds
(its heartbeat, :class:`~shiftswitch.heartbeats.Heartbeat`).

Two ways to lose actions, and what finds them:

- a worker died holding messages: their ``unacked`` entries stay behind, and no live worker's
  heartbeat names them. Past a grace (a worker names a message in its next beat) they are
  :func:`orphans`: put back in the queue at once, not after kombu's visibility timeout;
- the message itself is gone (Redis lost its data, or a scheduler died between claiming
  actions and sending them): no message covers the action. Untouched for a short while, it
  is :func:`lost`, and sent again.

Nothing here reads a clock or Redis: the broker (:mod:`shiftswitch.broker`) gathers the facts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shiftswitch.models import Action

Order = tuple[datetime, bool, int]  # an action's apply order: due time, ON?, id
Cover = dict[str, Order]  # owner → the last apply order a message takes for that user


def cover(kwargs: Mapping[str, Any]) -> Cover:
    """What a task message's keyword arguments cover: each user up to their last action.

    Both forms of the message (``batch`` of users, or one ``owner`` and its ``actions``);
    an empty cover for anything else.
    """
    users = kwargs.get("batch") or [
        {"owner": kwargs.get("owner"), "actions": kwargs.get("actions")}
    ]
    covered: Cover = {}
    for user in users:
        try:
            owner = str(user["owner"])
            last = max(
                (datetime.fromisoformat(a["due_at"]), bool(a["available"]), int(a["id"]))
                for a in user["actions"]
            )
        except (KeyError, TypeError, ValueError):  # not one of ours, or no actions
            continue
        covered[owner] = max(last, covered.get(owner, last))
    return covered


@dataclass
class Holdings:
    """What the messages in the broker, and those live workers hold, cover."""

    owners: Cover = field(default_factory=dict)
    ids: set[int] = field(default_factory=set)  # actions named, where owners are not known

    @classmethod
    def naming(cls, ids: Iterable[int]) -> Holdings:
        """Holdings known only by the ids of the actions the messages name."""
        return cls(ids=set(ids))

    def add(self, more: Mapping[str, Order]) -> None:
        for owner, last in more.items():
            mine = self.owners.get(owner)
            self.owners[owner] = last if mine is None else max(mine, last)

    def holds(self, action: Action) -> bool:
        """A message covers ``action``: a worker will take it when it runs that message."""
        if action.id in self.ids:
            return True
        last = self.owners.get(action.user_key)
        return last is not None and (action.due_at, action.wants_on, action.id) <= last


def orphans(taken: Mapping[str, float], live: Iterable[str], now: float, grace: float) -> list[str]:
    """The delivery tags of messages taken by a worker that no live worker holds.

    ``taken``: kombu's ``unacked_index`` (tag → when a worker took the message, in seconds);
    ``live``: the tags the live workers' heartbeats name. A message taken less than ``grace``
    ago may not be in its worker's heartbeat yet: it is left alone.
    """
    alive = set(live)
    return sorted(tag for tag, at in taken.items() if at < now - grace and tag not in alive)


def untouched(action: Action, since: datetime) -> bool:
    """Nobody has claimed, started or planned a retry of ``action`` since ``since``."""
    return all(
        t is None or t < since for t in (action.retry_at, action.enqueued_at, action.started_at)
    )


def lost(
    open_actions: Sequence[Action],
    holdings: Holdings | None,
    now: datetime,
    lost_after: timedelta,
    grace: timedelta,
) -> list[Action]:
    """The open actions to send again.

    With ``holdings`` (the broker could tell), an action untouched for ``lost_after`` that no
    message covers. Whatever the broker says, one untouched for the long ``grace``: longer
    than a message can wait unseen, so a worker stuck with it counts as having lost it.
    """
    return [
        a
        for a in open_actions
        if untouched(a, now - grace)
        or (holdings is not None and untouched(a, now - lost_after) and not holdings.holds(a))
    ]
