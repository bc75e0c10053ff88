"""How a test waits for something: `until` (blocking) and `until_async` (in a coroutine).

The one polling mechanism of the tests and benchmarks, built on the project's own
(`neodev.timing`: `Deadline`, `poll_until`), so a test waits the way the code under test does.
Every wait is bounded in time and says, when it runs out, what it waited for and the last value
it saw. The sleep is injected: `time.sleep` or `asyncio.sleep` by default, a Textual pilot's
`pilot.pause` in the dashboard tests (the app keeps running while the test waits), a virtual
clock's in the supervisor tests.

A probe returns a value; the wait ends when `ok(value)` holds (by default: the value is truthy)
and returns that value, so a test can go on with what it waited for:

    status = until(lambda: cli("status", "--json").json(), "db running", 30,
                   ok=lambda s: unit(s, "db")["state"] == "running")

Waits for a notification (a `threading.Condition`, an `asyncio.Event`) are not polls and keep
their own primitive; this module is for the loops that look again and again.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from neodev.timing import Clock, Deadline, poll_until

T = TypeVar("T")

INTERVAL = 0.02
"""Seconds between two looks, unless the caller says otherwise: short, for cheap probes; a
probe that costs a process (a CLI call) passes a longer one."""
SHOWN = 3000
"""Characters of the last value a failure message shows (a screen, a log)."""


def until(probe: Callable[[], T], what: str, timeout: float, *,
          ok: Callable[[T], object] = bool, interval: float = INTERVAL,
          retry_on: tuple[type[BaseException], ...] = (),
          sleep: Callable[[float], object] = time.sleep, clock: Clock = time.monotonic) -> T:
    """Call `probe` every `interval` seconds until `ok(value)` holds; return that value.

    Args:
        probe: What to look at (called at least once, and once more at the deadline).
        what: What is waited for, in words, for the failure message.
        timeout: Seconds before giving up.
        ok: When the value is the one waited for (default: it is truthy).
        interval: Seconds between two looks.
        retry_on: Exceptions of `probe` that mean "not yet" (they are the last value seen).
        sleep: The sleep between looks.
        clock: Monotonic seconds.

    Raises:
        AssertionError: `timeout` passed first; names `what` and the last value seen.
    """
    seen: list[Any] = [None]

    def done() -> bool:
        try:
            seen[0] = probe()
        except retry_on as exc:
            seen[0] = exc
            return False
        return bool(ok(seen[0]))

    if not poll_until(done, timeout, interval, clock=clock, sleep=sleep):
        raise AssertionError(timed_out(what, timeout, seen[0]))
    return seen[0]  # type: ignore[no-any-return]


async def until_async(probe: Callable[[], T | Awaitable[T]], what: str, timeout: float, *,
                      ok: Callable[[T], object] = bool, interval: float = INTERVAL,
                      retry_on: tuple[type[BaseException], ...] = (),
                      sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
                      clock: Clock | None = None) -> T:
    """`until` in a coroutine: the probe may be a coroutine function, and the sleep awaits.

    The clock defaults to the running loop's (monotonic time, or a test's virtual time).
    """
    deadline = Deadline(timeout, clock or asyncio.get_running_loop().time)
    while True:
        try:
            value = probe()
            if inspect.isawaitable(value):
                value = await value
        except retry_on as exc:
            last: Any = exc
        else:
            if ok(value):
                return value
            last = value
        if deadline.passed:
            raise AssertionError(timed_out(what, timeout, last))
        await sleep(min(interval, deadline.remaining()))


def timed_out(what: str, timeout: float, last: object) -> str:
    """The failure message: what was waited for, how long, and the last value seen."""
    if isinstance(last, str) and "\n" in last:
        shown = "\n" + last[-SHOWN:]
    else:
        shown = repr(last)
        shown = shown if len(shown) <= SHOWN else "..." + shown[-SHOWN:]
    return f"timed out after {timeout:g} s waiting for {what}; last seen: {shown}"
