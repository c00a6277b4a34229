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
