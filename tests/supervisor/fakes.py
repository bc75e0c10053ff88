"""Scripted runners for the engine's supervision tests.

These stand in for the container and process drivers (which have their own integration tests
against a real Docker engine and real processes): each run of a FakeRunner follows a script —
fail to start, exit with a code after a delay, report a health sequence, fail its liveness
probe — so the engine's state machine, dependency ordering and backoff are tested fast and
deterministically under virtual time (vclock.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from neodev.config.model import Backoff, Probe
from neodev.engine.runner import BuildOutcome, HealthReport, LaunchResult, Progress, Stats
from neodev.errors import EngineUnreachable, NeodevError, ProcessError
from neodev.protocol import Health

FAST_BACKOFF = Backoff(initial=1.0, factor=2.0, maximum=4.0, reset_after=30.0)
"""A backoff short enough for virtual time, with the shape of the real default."""
READY = Probe(kind="tcp", port=1, interval=0.5)
"""A readiness probe: the fake runner answers it; the port is never dialled."""


@dataclass
class Run:
    """The script of one run of a fake unit."""

    start_error: str | NeodevError | None = None
    """The start fails: a ProcessError with this message, or this error."""
    unreachable: bool = False
    """The start fails because the unit's engine is gone (EngineUnreachable)."""
    exit_after: float | None = None
    """Seconds until the unit exits by itself (None: runs until stopped)."""
    exit_code: int = 0
    health: Health = Health.HEALTHY
    healthy_after: float = 0.0
    """Seconds after the start before the health check passes (STARTING until then)."""
    live_for: float | None = None
    """Seconds after the start before the liveness check fails (None: never)."""
    start_delay: float = 0.0
    output: str | None = None
    """The line the run prints when it starts (default: `<name> last line`)."""


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
    can_build: bool = False
    health_poll: float = 0.5
    first_health_poll: float = 0.01
    sink: Callable[[str, str, float], None] | None = None
    """Where the scripted output line of each run goes (the engine's log sink)."""
    health_checks: int = 0

    def __post_init__(self) -> None:
        self._exited = asyncio.Event()
        self._code = 0
        self._current = Run()
        self._started_at = 0.0

    def _script(self) -> Run:
        if not self.runs:
            return Run()
        return self.runs[min(self.starts, len(self.runs)) - 1]

    async def start(self, progress: Progress | None = None) -> LaunchResult:
        self.starts += 1
        if progress is not None:
            progress(f"starting run {self.starts}")
        self._current = self._script()
        self.journal.append(("start", self.name))
        loop = asyncio.get_running_loop()
        if self.sink is not None:
            self.sink(self._current.output or f"{self.name} last line", "stdout", loop.time())
        await asyncio.sleep(self._current.start_delay)
        if self._current.unreachable:
            raise EngineUnreachable("no Docker engine answers at unix:///var/run/docker.sock")
        if isinstance(self._current.start_error, NeodevError):
            raise self._current.start_error
        if self._current.start_error:
            raise ProcessError(self._current.start_error)
        self._exited = asyncio.Event()
        self._started_at = loop.time()
        if self._current.exit_after is not None:
            loop.call_later(self._current.exit_after, self._exit, self._current.exit_code)
        return LaunchResult(detail=f"run {self.starts}")

    def _exit(self, code: int) -> None:
        if not self._exited.is_set():
            self._code = code
            self._exited.set()

    def _age(self) -> float:
        return asyncio.get_running_loop().time() - self._started_at

    async def wait_exit(self) -> int:
        await self._exited.wait()
        return self._code

    async def health(self) -> HealthReport:
        self.health_checks += 1
        if self._age() < self._current.healthy_after:
            return HealthReport(Health.STARTING, "scripted: not yet")
        return HealthReport(self._current.health, "scripted")

    async def liveness(self) -> HealthReport | None:
        live_for = self._current.live_for
        if live_for is None:
            return HealthReport(Health.HEALTHY, "alive")
        if self._age() >= live_for:
            return HealthReport(Health.UNHEALTHY, "GET /live -> 500 (failure 3/3)")
        return HealthReport(Health.HEALTHY, "alive")

    async def stop(self, grace: float) -> None:
        self.stops += 1
        self.journal.append(("stop", self.name))
        self._exit(143)

    async def stats(self) -> Stats | None:
        return Stats(cpu_percent=1.5, memory_bytes=1024)

    async def build(self) -> BuildOutcome:
        self.builds += 1
        await asyncio.sleep(0.01)
        if self.build_ok:
            return BuildOutcome(True, "built", 0.01)
        return BuildOutcome(False, "compile error: x", 0.01)
