"""The API server's gates on costly work: a few at a time, the others wait their turn and are
then refused with 429 and a Retry-After."""

from __future__ import annotations

import asyncio
import threading

import pytest

from shiftswitch.api.limits import Gate
from shiftswitch.problems import Refused


def test_a_turn_is_waited_for_then_refused_with_retry_after() -> None:
    gate = Gate("things", size=1, wait=0.05, retry_after=3)
    with gate.turn(), pytest.raises(Refused) as refused, gate.turn():
        pass
    assert (refused.value.status, refused.value.retry_after) == (429, 3)
    assert str(refused.value) == "too many things at once (at most 1); try again in 3 s"
    with gate.turn():  # released, whatever happened
        pass


def test_a_waiting_thread_gets_the_turn_released_meanwhile() -> None:
    gate = Gate("things", size=2, wait=5.0, retry_after=1)
    both_in = threading.Barrier(3)  # the two holders and this thread
    release = threading.Event()

    def holder() -> None:
        with gate.turn():
            both_in.wait(5)
            release.wait(5)

    threads = [threading.Thread(target=holder) for _ in range(2)]
    for t in threads:
        t.start()
    both_in.wait(5)  # both turns are taken
    threading.Timer(0.05, release.set).start()
    with gate.turn():  # the third waits, and goes once a holder is done
        assert release.is_set()
    for t in threads:
        t.join(5)


def test_the_event_loop_waits_without_blocking_and_is_refused_in_time() -> None:
    gate = Gate("rosters", size=1, wait=0.2, retry_after=10)

    async def scenario() -> list[str]:
        said: list[str] = []

        async def upload(name: str, hold: float) -> None:
            try:
                async with gate.turn_async():
                    said.append(f"{name} in")
                    await asyncio.sleep(hold)
                said.append(f"{name} out")
            except Refused as exc:
                said.append(f"{name} refused {exc.retry_after}")

        async def meanwhile() -> None:
            await asyncio.sleep(0.05)
            said.append("the loop runs on")

        await asyncio.gather(upload("a", 0.5), upload("b", 0.0), meanwhile())
        await upload("c", 0.0)
        return said

    assert asyncio.run(scenario()) == [
        "a in",
        "the loop runs on",  # b waits without holding the loop
        "b refused 10",  # after its 0.2 s
        "a out",
        "c in",
        "c out",
    ]
