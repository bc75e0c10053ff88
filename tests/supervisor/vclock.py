"""Virtual time for engine tests: an event loop whose clock jumps instead of waiting.

Every timer of the loop (`asyncio.sleep`, `wait_for` timeouts, `call_later`) runs on the
loop's own clock. This loop's clock is virtual: whenever nothing is ready to run and the loop
would wait for the next timer, the clock jumps to it at once. So a test of a 30 s backoff takes
microseconds, and the order of events is exactly what the timers say — deterministic, with no
real sleeps. The engine is given `loop.time` as its clock (and a wall clock derived from it).

Only for code that waits on timers and in-process I/O (scripted runners, the ASGI transport);
real sockets or subprocesses need real time.
"""

from __future__ import annotations

import asyncio
import functools
import selectors
from collections.abc import Awaitable, Callable
from typing import Any

WALL_EPOCH = 1_767_225_600.0
"""The wall clock of a virtual-time test starts at 2026-01-01T00:00:00Z."""
REAL_WAIT_CAP = 0.05
"""Real seconds the loop waits when it has no timer at all (only I/O or other threads)."""


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector event loop on a virtual clock that skips idle time."""

    def __init__(self) -> None:
        super().__init__()
        self._now = 0.0
        selector = self._selector  # type: ignore[attr-defined]
        real_select = selector.select

        def select(timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
            ready: list[tuple[selectors.SelectorKey, int]] = real_select(0)
            if ready or timeout == 0:
                return ready
            if timeout is None:
                # No timer scheduled: only I/O can wake us; wait for it briefly in real time.
                return list(real_select(REAL_WAIT_CAP))
            self._now += timeout  # nothing to do until the next timer: jump to it
            return ready

        selector.select = select

    def time(self) -> float:
        return self._now

    def wall(self) -> float:
        """A wall clock that moves with the virtual clock."""
        return WALL_EPOCH + self._now


def virtual_time(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test function in a fresh VirtualTimeLoop (the test becomes synchronous)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        loop = VirtualTimeLoop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(test(*args, **kwargs))
        finally:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.wait(pending))
            asyncio.set_event_loop(None)
            loop.close()

    return run
