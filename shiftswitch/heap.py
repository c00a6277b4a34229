"""Long-lived data kept out of the garbage collector's way, in a process that answers requests.

A roster of 10,000 agents and its plan are millions of objects that live until the roster
changes. Python's collector walks every object it tracks in its oldest generation now and then
(with each request allocating thousands of rows, many times a minute), which made one request
in several take 200 ms more. After such data is built, :func:`settle` collects once and moves
everything alive into the permanent generation (``gc.freeze``), which the collector skips; the
next settle (after the next roster or plan) unfreezes first, so what the old roster held is
freed then.
"""

from __future__ import annotations

import gc
import threading

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
