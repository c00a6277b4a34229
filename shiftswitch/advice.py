"""Exotel's refusals in plain words, with the next step (README: When a switch fails): one table
for the command line and the console.

Exotel's numeric error codes differ between its pages (1003 for every 403 in one, 10809 and
others in another), so a refusal is told by its HTTP status first and its description second;
the code and the raw text are kept beside the advice, never replaced by it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Advice:
    words: str  # what happened, for an ops person
    next: str  # what to do about it


# (HTTP statuses, or None for any; words in the description, lower case, or None; the advice),
# the first that matches wins.
RULES: tuple[tuple[frozenset[int] | None, str | None, Advice], ...] = (
    (
        frozenset({403}),
        "unverified",
        Advice(
            "The device's number is not verified in Exotel, so Exotel will not turn it ON.",
            "The agent verifies the number in Exotel (Exotel sends a code to it); then "
            "switch again or wait for the next reconcile.",
        ),
    ),
    (
        frozenset({403}),
        "another device is on",
        Advice(
            "Exotel allows one device ON per user, and another device of this user is ON.",
            "shiftswitch turns the roster's other devices OFF first; a device ON that the roster "
            "does not name must be turned OFF in Exotel, or added to the roster.",
        ),
    ),
    (
        frozenset({403}),
        "not pstn",
        Advice(
            "Exotel does not switch this kind of device (it is not a phone number).",
            "Give the agent a phone-number device in the roster.",
        ),
    ),
    (
        frozenset({403}),
        "kyc",
        Advice(
            "The Exotel account's KYC is incomplete: Exotel refuses changes until it is done.",
            "The account's owner completes KYC with Exotel.",
        ),
    ),
    (
        frozenset({403}),
        "trial",
        Advice(
            "A trial Exotel account may not switch devices.",
            "Upgrade the account with Exotel.",
        ),
    ),
    (
        frozenset({401, 403}),
        "auth",
        Advice(
            "Exotel refused the account's API credentials.",
            "Check EXOTEL_<ACCOUNT>_API_KEY and EXOTEL_<ACCOUNT>_API_TOKEN where the workers run "
            "('shiftswitch check' tries them).",
        ),
    ),
    (
        frozenset({401}),
        None,
        Advice(
            "Exotel refused the account's API credentials.",
            "Check EXOTEL_<ACCOUNT>_API_KEY and EXOTEL_<ACCOUNT>_API_TOKEN where the workers run "
            "('shiftswitch check' tries them).",
        ),
    ),
    (
        frozenset({404}),
        None,
        Advice(
            "Exotel does not know this user or device.",
            "Check the device's id or number in the roster; 'shiftswitch reconcile --remote' reads "
            "what Exotel has.",
        ),
    ),
    (
        frozenset({400}),
        "same request",
        Advice(
            "Exotel refused a number change made together with another change.",
            "Change the number on its own ('shiftswitch device set-number').",
        ),
    ),
    (
        frozenset({409}),
        None,
        Advice(
            "Exotel was changing the device already.",
            "shiftswitch reads the device and tries again; nothing to do unless it repeats.",
        ),
    ),
    (
        frozenset({429}),
        None,
        Advice(
            "Too many requests for the account's limit at Exotel.",
            "Lower the account's rate_limit in the roster, or ask Exotel to raise it.",
        ),
    ),
    (
        frozenset({500, 502, 503, 504}),
        None,
        Advice(
            "Exotel failed to answer (a server error on its side).",
            "shiftswitch tries again; the Operations page says when Exotel is down for an account.",
        ),
    ),
    (
        None,
        "timed out",
        Advice(
            "Exotel did not answer in time.",
            "shiftswitch reads the device back and sets it if needed; check the network to Exotel "
            "if it repeats.",
        ),
    ),
)


def advise(http_code: int | None, text: str | None) -> Advice | None:
    """The advice for a refusal with ``http_code`` and ``text`` (Exotel's description, or the
    action's reason, which quotes it); None when there is none to give."""
    said = (text or "").lower()
    for statuses, words, advice in RULES:
        if statuses is not None and http_code not in statuses:
            continue
        if words is not None and words not in said:
            continue
        return advice
    return None
