"""Telling people (README: Notifications): events noticed where they happen, written to an
outbox in the transaction that notices them, and delivered by one process at a time through
Apprise to the channels the rules name."""
