"""How requests to one Exotel account are spaced: its rate limit, and the spacing every process
that sends for it keeps (README: Request spacing and 429s). The budget shared in Redis that
enforces it is :mod:`shiftswitch.budget`."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

# Requests are spaced a little wider than the limit (1%, and 100 ms per window), so that jitter
# between a request's slot and Exotel's clock never puts one request too many into its window.
REQUEST_SAFETY = 1.01
WINDOW_SLACK_SECONDS = 0.1
# A gateway that refuses any request closer than 1/rate to the one before (nginx limit_req with
# no burst) sees the network's jitter on every single gap, not once per window: two requests sent
# S apart arrive S - J apart at worst. An account whose gateway has answered 429 is spaced this
# much wider (RateLimit.strict_spacing) at intervals of JITTER_FULL_INTERVAL and longer, and a
# share falling with the square of the interval below (5% at 60/min, 0.5% at 600/min): at high
# rates covering it would cost more than a 429 now and then, and the adaptation in Redis
# (shiftswitch.coordination) widens an account that meets more. A windowed gateway never pays it.
JITTER_ALLOWANCE = 0.05
JITTER_FULL_INTERVAL = 1.0
# Of that allowance, up to this much is in the spacing from the start, before any 429: at low
# rates a 429 costs a whole interval (half a second and more), a large share of a small
# account's run, while 10 ms is 0.8% of 50/min's interval and 2% of 120/min's; at 600/min and
# faster the share is 0.5 ms or less. Measured here: requests sent evenly to a loaded machine
# arrived up to 12-15 ms closer than sent.
JITTER_FROM_THE_START = 0.01
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|second|min|minute)\s*$")


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A request budget: ``count`` requests every ``per_seconds`` seconds."""

    count: int
    per_seconds: int

    def __str__(self) -> str:
        return f"{self.count}/{'s' if self.per_seconds == 1 else 'min'}"

    @property
    def interval(self) -> float:
        """Seconds between two requests at exactly this limit (``1/rate``)."""
        return self.per_seconds / self.count

    @property
    def spacing(self) -> float:
        """Seconds between two requests sent at this limit, as the workers space them at the
        least: a little wider than the limit for a gateway counting requests per window
        (:data:`REQUEST_SAFETY`, :data:`WINDOW_SLACK_SECONDS`), and at low rates for some of
        the network's jitter (:data:`JITTER_FROM_THE_START`)."""
        return self._window_spacing + min(JITTER_FROM_THE_START, self._jitter)

    @property
    def strict_spacing(self) -> float:
        """The spacing for an account whose gateway has refused a request (429): as a gateway
        refusing each request closer than ``1/rate`` to the one before would need it,
        :attr:`spacing` plus the network's jitter (:data:`JITTER_ALLOWANCE`, in full from
        :data:`JITTER_FULL_INTERVAL` up)."""
        return self._window_spacing + self._jitter

    @property
    def _window_spacing(self) -> float:
        return (self.per_seconds * REQUEST_SAFETY + WINDOW_SLACK_SECONDS) / self.count

    @property
    def _jitter(self) -> float:
        """The jitter allowance at this limit's interval."""
        share = min(1.0, (self.interval / JITTER_FULL_INTERVAL) ** 2)
        return JITTER_ALLOWANCE * share


@functools.lru_cache(maxsize=1024)
def parse_rate(text: str) -> RateLimit | None:
    """A rate limit such as ``60/min`` or ``5/s``; None when ``text`` is not one. Cached: the
    worker reads an action's for each request."""
    m = _RATE.match(text)
    if not m or int(m.group(1)) <= 0:
        return None
    return RateLimit(int(m.group(1)), 1 if m.group(2).startswith("s") else 60)
