"""How neodev waits: capped backoff, a sleep cut short by an event, deadlines, polling, work
that must end even when cancelled.

Every retry, restart and poll in neodev paces itself through these few pieces, so a retry
schedule, a wake-up or a time limit means the same thing everywhere, and each takes its clock
and sleep as arguments: the supervisor and the Loki shipper run them under virtual time in
their tests. The module sits at the bottom of the layers (standard library only): the engine,
the drivers, telemetry, the daemon and the pytest plugin all use it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio
from typing import TypeVar

T = TypeVar("T")
Clock = Callable[[], float]
"""Monotonic seconds."""
Sleep = Callable[[float], Awaitable[None]]
"""An awaitable sleep (`asyncio.sleep`, or a test's virtual one)."""


@dataclass(frozen=True)
class Backoff:
    """A capped exponential schedule: `first`, `first * factor`, ... never above `cap`.

    The caller counts attempts (restarts, reconnects, retries) and resets its count after a
    success; the schedule itself keeps no state.
    """

    first: float
    """Seconds before the first retry (attempt 0)."""
    cap: float
    """The longest delay."""
    factor: float = 2.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (0-based)."""
        try:
            return min(self.first * self.factor ** max(attempt, 0), self.cap)
        except OverflowError:  # thousands of attempts: long past the cap
            return self.cap


async def sleep_unless(event: asyncio.Event, seconds: float,
                       sleep: Sleep | None = None) -> bool:
    """Sleep `seconds`, cut short when `event` is set (at once when it is set already).

    Args:
        event: The wake-up (a stop, a manual restart, a full batch, someone watching).
        seconds: The longest sleep.
        sleep: The sleep to use (injected for virtual time; default `asyncio.sleep`).

    Returns:
        True when the event ended the sleep, False when the time ran out.
    """
    import asyncio  # here: a short command imports this module for Deadline alone

    if event.is_set():
        return True
    sleeper = asyncio.ensure_future((sleep or asyncio.sleep)(max(seconds, 0.0)))
    waker = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
    finally:  # also when cancelled: neither may outlive the wait
        sleeper.cancel()
        waker.cancel()
    return event.is_set()


async def to_the_end(work: Awaitable[T]) -> T:
    """Await `work` to its end even when the caller is cancelled meanwhile; the cancellation
    goes on afterwards. For an undo that must not stop half-way (a restore putting a database
    back): a cancelled caller then ends a little later, never in a broken state.

    Returns:
        What `work` returned (its error is raised, as by awaiting it).
    """
    import asyncio

    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled():  # the work itself was cancelled, not its caller
                raise
            cancelled = True
    result = task.result()
    if cancelled:
        raise asyncio.CancelledError
    return result


class Deadline:
    """A point in time `seconds` from now (None: never), on an injectable monotonic clock."""

    def __init__(self, seconds: float | None, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._at = None if seconds is None else clock() + seconds

    def remaining(self) -> float:
        """Seconds left (0 once passed; infinite without a limit)."""
        if self._at is None:
            return float("inf")
        return max(self._at - self._clock(), 0.0)

    @property
    def passed(self) -> bool:
        return self._at is not None and self._clock() >= self._at


def poll_until(done: Callable[[], bool], timeout: float, interval: float, *,
               clock: Clock = time.monotonic,
               sleep: Callable[[float], object] = time.sleep) -> bool:
    """Call `done` every `interval` seconds until it returns True or `timeout` has passed.

    Blocking: from async code, run it in a thread. `done` is always called at least once,
    and once more at the deadline, so a condition met during the last sleep is seen.

    Returns:
        True when `done` did; False when the time ran out first.
    """
    deadline = Deadline(timeout, clock)
    while not done():
        if deadline.passed:
            return False
        sleep(min(interval, deadline.remaining()))
    return True
