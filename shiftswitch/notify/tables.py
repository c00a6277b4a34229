"""The notification tables (README: Notifications): the outbox of events, the messages that
carry them, and the conditions alerted on until they clear. On the one metadata of
:mod:`shiftswitch.schema`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Index, Integer, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shiftswitch.models import Base, BigId, UtcDateTime


class Notification(Base):
    """An event for one channel, in the outbox (README: Notifications): recorded in the
    transaction that noticed it, then carried by a delivery. ``key`` is the event's identity
    (one per channel: the same event noticed twice is recorded once)."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("channel", "key"),
        Index("ix_notifications_pending", "channel", "kind", "delivery_id"),
        Index("ix_notifications_delivery", "delivery_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # What happened: agent, device, account, why; never a URL or a credential.
    detail: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    recipient: Mapped[str | None] = mapped_column(Text)  # an agent's contact, for reminders
    delivery_id: Mapped[int | None] = mapped_column(BigInteger)  # None: not in a message yet


class NotificationDelivery(Base):
    """One message to a channel, carrying the events of one kind: sent once (its key is in its
    text, so a message sent again after a crash is known for the same)."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        Index("ix_notification_deliveries_due", "sent_at", "next_try_at"),
        Index("ix_notification_deliveries_last", "channel", "kind", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    recipient: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    events: Mapped[int] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_try_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)  # never the channel's URL


class NotifyCondition(Base):
    """A condition alerted on (no worker, no scheduler, ...), open until it clears; its
    clearing is the ``recovered`` message. One row per (kind, subject), opened again later."""

    __tablename__ = "notify_conditions"

    kind: Mapped[str] = mapped_column(Text, primary_key=True)
    subject: Mapped[str] = mapped_column(Text, primary_key=True)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
