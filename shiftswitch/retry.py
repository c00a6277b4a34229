"""When to try a switch again: a pure function of the outcome, the attempt and the time so far."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How the worker retries a switch that met a 429, a 5xx, a timeout or a connection error.

    Exponential backoff with jitter (``base_delay`` doubling up to ``max_delay``), or Exotel's
    ``Retry-After`` when it sends one; at most ``max_attempts`` HTTP attempts, and no retry
    later than ``max_age`` seconds after the first attempt.
    """

    base_delay: float = 1.0
    max_delay: float = 300.0
    max_attempts: int = 8
    max_age: float = 1800.0


def next_delay(
    policy: RetryPolicy,
    attempts: int,
    retry_after: float | None,
    age: float,
    rng: random.Random,
) -> float | None:
    """Seconds to wait before attempt ``attempts + 1``, or None to give up.

    ``age`` is the time since the first attempt. With ``Retry-After``, wait that long plus up
    to 10% (so workers told the same instant do not return together); without, "equal
    jitter": half the exponential delay, plus a random part of the other half.
    """
    if attempts >= policy.max_attempts:
        return None
    if retry_after is not None and retry_after >= 0:
        delay = min(retry_after, policy.max_delay)
        delay += rng.uniform(0, min(1.0, 0.1 * delay + 0.05))
    else:
        ceiling = min(policy.max_delay, policy.base_delay * 2 ** (attempts - 1))
        delay = ceiling / 2 + rng.uniform(0, ceiling / 2)
    if age + delay > policy.max_age:
        return None
    return min(delay, policy.max_delay)
