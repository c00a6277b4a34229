"""Exotel's refusals in plain words, told by HTTP status first and description second."""

from __future__ import annotations

import pytest

from shiftswitch.advice import advise

CASES = [
    (403, "Exotel refused: 403 1003 Device is unverified [request r-1]", "not verified"),
    (403, "Another device is ON. Only one device can be ON at a time", "one device ON"),
    (403, "This device is not PSTN. Operation not permitted", "not a phone number"),
    (403, "This account's KYC is incomplete. Operation not permitted", "KYC"),
    (403, "This is a trial account. Operation not permitted", "trial"),
    (403, "API credentials used are unauthorized", "credentials"),
    (401, "Authentication failed", "credentials"),
    (404, "Device not found", "does not know"),
    (400, "device_contact_uri cannot be updated in the same request", "number change"),
    (409, "Device already exists", "changing the device already"),
    (429, "Too many requests", "limit"),
    (502, "HTTP 502 from a proxy: <html>", "server error"),
    (None, "read timed out after 10 s", "did not answer in time"),
]


@pytest.mark.parametrize(("http", "text", "says"), CASES, ids=[c[2] for c in CASES])
def test_each_refusal_has_words_and_a_next_step(http: int | None, text: str, says: str) -> None:
    found = advise(http, text)
    assert found is not None and says in found.words and found.next


def test_a_code_exotel_did_not_document_gets_no_advice() -> None:
    assert advise(418, "I am a teapot") is None
    assert advise(None, None) is None
