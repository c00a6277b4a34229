"""How large a roster document may be, and what is said when one is larger (README: Roster
format, Limits)."""

from __future__ import annotations

from dataclasses import dataclass

from shiftswitch.problems import Problem

MIB = 1024 * 1024
# A roster of 10,000 agents and 200 shifts (BENCHMARKS.md) is about 1.2 MiB, 120,000 values (keys
# counted) and 4 levels deep, with no value longer than a few dozen characters; the 100,000-agent
# benchmark roster is 12 MiB and 1.2 million values.
MAX_BYTES = 32 * MIB
MAX_VALUES = 2_000_000
MAX_DEPTH = 32
MAX_TEXT = 1024  # characters in one value or key


@dataclass(frozen=True, slots=True)
class Limits:
    """How large a document may be: ``bytes`` of text, ``values`` (every key, value and list
    item, those reached through an alias counted each time), ``depth`` of nesting, and ``text``
    characters in one value."""

    bytes: int = MAX_BYTES
    values: int = MAX_VALUES
    depth: int = MAX_DEPTH
    text: int = MAX_TEXT


LIMITS = Limits()


def size_text(n: int) -> str:
    """A size in bytes for a message: ``40.0 MiB``, ``512 bytes``."""
    return f"{n / MIB:.1f} MiB" if n >= MIB else f"{n:,} bytes"


def too_large(size: int, limits: Limits = LIMITS) -> Problem | None:
    """The problem with a document of ``size`` bytes, or None when it is within the limit."""
    if size <= limits.bytes:
        return None
    # Just over the limit: a file read no further than that (it grows, or has no end).
    big = "" if size == limits.bytes + 1 else f"{size_text(size)}, "
    return Problem(
        (),
        f"the document is {big}over the limit of {size_text(limits.bytes)}; is it the right file?",
    )
