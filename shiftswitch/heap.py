"""Long-lived data kept out of the garbage collector's way, in a process that answers requests.

A roster of 10,000 agents and its plan are millions of objects that live until the roster
changes. Python's collector walks every object it tracks in its oldest generation now and then
(with each request allocating thousands of rows, many times a minute), which made one request
in several take 200 ms more. After such data is built, :func:`settle` collects once and moves
everything alive into the permanent generation (``gc.freeze``), which the collector skips; the
next settle (after the next roster or plan) unfreezes first, so what the old roster held is
freed then.

Building such data is the caller's decision too: :func:`paused` keeps the collector off while a
roster is read or a plan is made (many new objects, no cycles), where the caller knows the work
is large; the parser and the planner themselves never touch the collector.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()


def settle() -> None:
    """Collect, then freeze what is alive: call after building data that lives long."""
    with _lock:
        gc.unfreeze()
        gc.collect()
        gc.freeze()


def promote() -> None:
    """Move what the collector's young generations hold to its oldest, without walking it (as
    if it had survived two collections). For data just built with the collector paused (a
    plan: many new objects, no cycles) that saves a walk of all of it; any cycles made
    elsewhere meanwhile wait for the next full collection. Nothing is done while something
    is frozen (by :func:`settle`): unfreezing would undo that."""
    with _lock:
        if not gc.get_freeze_count():
            gc.freeze()
            gc.unfreeze()


@contextmanager
def paused() -> Iterator[None]:
    """Pause the cyclic collector while a large tree of new objects with no cycles is built
    (a roster read, a plan made): it would walk them over and over meanwhile, for 10,000
    agents about a fifth of the time. When it is turned back on, what was made goes straight
    to the oldest generation (:func:`promote`), as it would after surviving two collections,
    but without walking it twice more. Nested use is harmless: only the outermost resumes."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            promote()
            gc.enable()
