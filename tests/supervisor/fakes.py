"""Scripted runners for the engine's supervision tests.

These stand in for the container and process drivers (which have their own integration tests
against a real Docker engine and real processes): each run of a FakeRunner follows a script —
fail to start, exit with a code after a delay, report a health sequence — so the engine's state
machine, dependency ordering and backoff are tested fast and deterministically.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from neodev.engine.events import Health
from neodev.engine.runner import HealthReport, LaunchResult, Stats
from neodev.errors import ProcessError


@dataclass
class Run:
    """The script of one run of a fake unit."""

    start_error: str | None = None
    exit_after: float | None = None
    """Seconds until the unit exits by itself (None: runs until stopped)."""
    exit_code: int = 0
    health: Health = Health.HEALTHY
    start_delay: float = 0.0


@dataclass
class FakeRunner:
    name: str
    runs: list[Run] = field(default_factory=list)
    """Scripts for successive runs; the last one repeats."""
    journal: list[tuple[str, str]] = field(default_factory=list)
    starts: int = 0
    stops: int = 0
    build_ok: bool = True
    builds: int = 0
    sink: Callable[[str, str, float], None] | None = None
    """Where the scripted output line of each run goes (the engine's log sink)."""

    def __post_init__(self) -> None:
        self._exited = asyncio.Event()
        self._code = 0
        self._current = Run()

    def _script(self) -> Run:
        if not self.runs:
            return Run()
        return self.runs[min(self.starts, len(self.runs)) - 1]

    async def start(self) -> LaunchResult:
        self.starts += 1
        self._current = self._script()
        self.journal.append(("start", self.name))
        if self.sink is not None:
            self.sink(f"{self.name} last line", "stdout", time.time())
        await asyncio.sleep(self._current.start_delay)
        if self._current.start_error:
            raise ProcessError(self._current.start_error)
        self._exited = asyncio.Event()
        if self._current.exit_after is not None:
            asyncio.get_running_loop().call_later(self._current.exit_after, self._exit,
                                                  self._current.exit_code)
        return LaunchResult()

    def _exit(self, code: int) -> None:
        if not self._exited.is_set():
            self._code = code
            self._exited.set()

    async def wait_exit(self) -> int:
        await self._exited.wait()
        return self._code

    async def health(self) -> HealthReport:
        return HealthReport(self._current.health, "scripted")

    async def stop(self, grace: float) -> None:
        self.stops += 1
        self.journal.append(("stop", self.name))
        self._exit(143)

    async def stats(self) -> Stats | None:
        return Stats(cpu_percent=1.5, memory_bytes=1024)

    def recent_logs(self, n: int) -> list[str]:
        return [f"{self.name} last line"][-n:]

    async def build(self) -> object:
        self.builds += 1
        ok = self.build_ok

        class Outcome:
            pass

        outcome = Outcome()
        outcome.ok = ok  # type: ignore[attr-defined]
        outcome.output = "compile error: x" if not ok else "built"  # type: ignore[attr-defined]
        outcome.duration = 0.01  # type: ignore[attr-defined]
        await asyncio.sleep(0.01)
        return outcome
