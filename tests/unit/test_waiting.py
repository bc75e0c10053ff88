"""The tests' one polling helper: bounded, returns what it waited for, says what it last saw."""

from __future__ import annotations

import asyncio

import pytest

from tests.clocks import FakeClock
from tests.waiting import until, until_async


def test_until_returns_the_value_that_was_waited_for() -> None:
    clock = FakeClock(start=0.0)
    values = iter([0, 1, 2, 3])
    assert until(lambda: next(values), "2 or more", 10, ok=lambda n: n >= 2, interval=0.5,
                 sleep=clock.sleep, clock=clock) == 2
    assert clock.sleeps == [0.5, 0.5]


def test_until_fails_at_the_deadline_naming_what_and_the_last_value() -> None:
    clock = FakeClock(start=0.0)
    looks: list[float] = []

    def probe() -> dict[str, str]:
        looks.append(clock.now)
        return {"state": "starting"}

    with pytest.raises(AssertionError) as failed:
        until(probe, "db running", 1.0, ok=lambda unit: unit["state"] == "running",
              interval=0.3, sleep=clock.sleep, clock=clock)
    assert str(failed.value) == ("timed out after 1 s waiting for db running; "
                                 "last seen: {'state': 'starting'}")
    assert looks == pytest.approx([0.0, 0.3, 0.6, 0.9, 1.0])  # and once more at the deadline


def test_until_treats_the_named_exceptions_as_not_yet() -> None:
    clock = FakeClock(start=0.0)
    answers: list[object] = [ConnectionError("refused"), "ok"]

    def probe() -> object:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert until(probe, "an answer", 5, retry_on=(ConnectionError,), sleep=clock.sleep,
                 clock=clock) == "ok"
    with pytest.raises(ValueError):  # any other error is the test's failure at once
        until(lambda: int("x"), "a number", 5, retry_on=(ConnectionError,), sleep=clock.sleep,
              clock=clock)
    with pytest.raises(AssertionError, match=r"last seen: ConnectionError\('refused'\)"):
        until(lambda: probe_refused(), "an answer", 1, retry_on=(ConnectionError,),
              sleep=clock.sleep, clock=clock)


def probe_refused() -> str:
    raise ConnectionError("refused")


def test_a_long_multiline_value_is_shown_as_text_and_cut() -> None:
    clock = FakeClock(start=0.0)
    screen = "\n".join(f"row {i}" for i in range(2000))
    with pytest.raises(AssertionError) as failed:
        until(lambda: screen, "the prompt", 1, ok=lambda text: "$ " in text, sleep=clock.sleep,
              clock=clock)
    message = str(failed.value)
    assert message.endswith("row 1999") and "\nrow 1999" in message
    assert len(message) < 3200


async def test_until_async_awaits_coroutine_probes_and_the_injected_sleep() -> None:
    clock = FakeClock(start=0.0)
    states = iter(["starting", "starting", "healthy"])

    async def health() -> str:
        return next(states)

    assert await until_async(health, "healthy", 5, ok=lambda s: s == "healthy", interval=0.1,
                             sleep=clock.asleep, clock=clock) == "healthy"
    assert clock.sleeps == [0.1, 0.1]


async def test_until_async_fails_on_the_loop_clock_by_default() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(AssertionError, match="waiting for never; last seen: False"):
        await until_async(lambda: False, "never", 0.1, interval=0.02)
    assert 0.1 <= loop.time() - started < 2
