"""A caller's mistake, said once for every shell."""

from __future__ import annotations

from http import HTTPStatus


class Refused(Exception):
    """What the caller asked cannot be done as asked; nothing was changed.

    ``place`` names the value at fault as the HTTP API calls it (``until``, ``from``); the
    command line shows it as its option (``--until``). ``status`` is the HTTP status the API
    answers with; ``usage`` marks a malformed request, which the command line answers with its
    usage exit code (2) rather than 1.
    """

    def __init__(
        self,
        message: str,
        *,
        place: str | None = None,
        status: HTTPStatus = HTTPStatus.BAD_REQUEST,
        usage: bool = False,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds, for a refusal to come back later (429)
        self.message = message
        self.place = place
        self.status = status
        self.usage = usage

    def __str__(self) -> str:
        return f"{self.place}: {self.message}" if self.place else self.message


def not_found(message: str, place: str | None = None) -> Refused:
    return Refused(message, place=place, status=HTTPStatus.NOT_FOUND)


def conflict(message: str) -> Refused:
    return Refused(message, status=HTTPStatus.CONFLICT)


def invalid(message: str, place: str | None = None) -> Refused:
    """A malformed value: the command line's usage error, the API's 400."""
    return Refused(message, place=place, usage=True)
