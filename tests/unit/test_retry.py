"""Retry delays, and the settings that bound them."""

from __future__ import annotations

import random

import pytest

from shiftswitch.retry import RetryPolicy, next_delay
from shiftswitch.settings import ConfigError, Settings

POLICY = RetryPolicy(base_delay=1.0, max_delay=60.0, max_attempts=5, max_age=300.0)


@pytest.mark.parametrize(
    ("attempts", "low", "high"),
    [(1, 0.5, 1.0), (2, 1.0, 2.0), (3, 2.0, 4.0), (4, 4.0, 8.0)],
)
def test_backoff_doubles_with_jitter_in_the_upper_half(
    attempts: int, low: float, high: float
) -> None:
    rng = random.Random(7)
    delays = [next_delay(POLICY, attempts, None, 0.0, rng) for _ in range(200)]
    assert all(d is not None and low <= d <= high for d in delays)
    assert len({round(d, 6) for d in delays if d is not None}) > 150  # jittered


def test_retry_after_is_honoured_with_a_little_jitter() -> None:
    rng = random.Random(1)
    delays = [next_delay(POLICY, 1, 7.0, 0.0, rng) for _ in range(100)]
    assert all(d is not None and 7.0 <= d <= 7.75 for d in delays)


def test_retry_after_is_capped_by_the_longest_delay() -> None:
    assert next_delay(POLICY, 1, 3600.0, 0.0, random.Random(1)) == 60.0


def test_giving_up_on_attempts_and_on_age() -> None:
    rng = random.Random(3)
    assert next_delay(POLICY, 5, None, 0.0, rng) is None
    assert next_delay(POLICY, 1, None, 299.9, rng) is None
    assert next_delay(POLICY, 1, 10.0, 295.0, rng) is None


def test_settings_refuse_a_visibility_timeout_below_the_longest_retry() -> None:
    with pytest.raises(ConfigError, match="SHIFTSWITCH_VISIBILITY_TIMEOUT"):
        Settings.from_env({"SHIFTSWITCH_VISIBILITY_TIMEOUT": "60"})
    with pytest.raises(ConfigError, match="SHIFTSWITCH_LOCK_TTL"):
        Settings.from_env({"SHIFTSWITCH_LOCK_TTL": "5"})
    with pytest.raises(ConfigError, match="SHIFTSWITCH_RETRY_MAX_ATTEMPTS='many'"):
        Settings.from_env({"SHIFTSWITCH_RETRY_MAX_ATTEMPTS": "many"})
    with pytest.raises(ConfigError, match="SHIFTSWITCH_HTTP_TIMEOUT='nan'"):
        Settings.from_env({"SHIFTSWITCH_HTTP_TIMEOUT": "nan"})
