"""neodev.timing: the one capped backoff, sleep cut short, deadline and polling loop."""

from __future__ import annotations

import asyncio

import pytest

from neodev.timing import Backoff, Deadline, poll_until, sleep_unless
from tests.clocks import FakeClock


def test_backoff_doubles_from_first_up_to_the_cap_and_never_overflows() -> None:
    schedule = Backoff(first=0.5, cap=30.0)
    assert [schedule.delay(n) for n in range(9)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert Backoff(first=1.0, cap=60.0, factor=3.0).delay(2) == 9.0
    assert schedule.delay(-1) == 0.5  # "failures - 1" of a first failure counted as zero
    assert schedule.delay(100_000) == 30.0  # 2.0 ** 100000 overflows a float


async def test_sleep_unless_ends_at_the_event_or_the_time() -> None:
    event = asyncio.Event()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await asyncio.sleep(3600)  # only the event can end this one

    waiting = asyncio.create_task(sleep_unless(event, 5.0, sleep))
    for _ in range(3):  # the task starts, then its sleeper
        await asyncio.sleep(0)
    assert slept == [5.0] and not waiting.done()
    event.set()
    assert await asyncio.wait_for(waiting, 1.0) is True
    # Set already: no sleep at all.
    assert await sleep_unless(event, 5.0, sleep) is True and slept == [5.0]
    # Not set: the time runs out (a negative time is no time).
    assert await sleep_unless(asyncio.Event(), -1.0) is False


async def test_sleep_unless_leaves_nothing_behind_when_cancelled() -> None:
    before = len(asyncio.all_tasks())
    waiting = asyncio.create_task(sleep_unless(asyncio.Event(), 3600))
    for _ in range(3):
        await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await asyncio.sleep(0)
    assert len(asyncio.all_tasks()) == before


def test_deadline_on_an_injected_clock() -> None:
    clock = FakeClock()
    deadline = Deadline(2.0, clock)
    assert deadline.remaining() == 2.0 and not deadline.passed
    clock.now += 2.0
    assert deadline.remaining() == 0.0 and deadline.passed
    clock.now += 5.0
    assert deadline.remaining() == 0.0  # never negative
    never = Deadline(None, clock)
    assert never.remaining() == float("inf") and not never.passed


def test_poll_until_checks_at_the_interval_and_once_more_at_the_deadline() -> None:
    clock = FakeClock()
    calls: list[float] = []

    def never() -> bool:
        calls.append(clock.now)
        return False

    assert poll_until(never, 1.0, 0.3, clock=clock, sleep=clock.sleep) is False
    # 0, 0.3, 0.6, 0.9, then the last 0.1 to the deadline and one more look.
    assert clock.sleeps == pytest.approx([0.3, 0.3, 0.3, 0.1])
    assert calls == pytest.approx([100.0, 100.3, 100.6, 100.9, 101.0])


def test_poll_until_returns_as_soon_as_the_condition_holds() -> None:
    clock = FakeClock()
    answers = iter([False, False, True])
    assert poll_until(lambda: next(answers), 10.0, 0.5, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == [0.5, 0.5]
    # Already true: no sleep; a zero timeout still looks once.
    assert poll_until(lambda: True, 0.0, 0.5, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == [0.5, 0.5]


async def test_to_the_end_finishes_its_work_when_the_caller_is_cancelled() -> None:
    from neodev.timing import to_the_end

    steps: list[str] = []
    gate = asyncio.Event()

    async def undo() -> str:
        steps.append("begun")
        await gate.wait()
        steps.append("done")
        return "put back"

    caller = asyncio.create_task(to_the_end(undo()))
    for _ in range(3):
        await asyncio.sleep(0)
    caller.cancel()  # twice: neither stops the work
    await asyncio.sleep(0)
    caller.cancel()
    await asyncio.sleep(0)
    assert not caller.done() and steps == ["begun"]
    gate.set()
    with pytest.raises(asyncio.CancelledError):
        await caller  # the cancellation goes on once the work is done
    assert steps == ["begun", "done"]
    # Not cancelled: its result, or its own error.
    assert await to_the_end(asyncio.sleep(0, "x")) == "x"

    async def failing() -> None:
        raise RuntimeError("undo failed")

    with pytest.raises(RuntimeError, match="undo failed"):
        await to_the_end(failing())
