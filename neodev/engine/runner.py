"""The seam between the engine and the drivers.

The engine drives units through `Runner` objects and never learns whether a unit is a
container or a process. A driver (neodev.docker, neodev.process) implements `Runner` for its
kind of unit; the daemon builds the runners and hands them to the engine. Every method is async:
drivers push blocking work (docker SDK, psutil) to threads themselves. What differs between
drivers is declared here, not guessed by the engine: how often health may be observed
(`first_health_poll`, `health_poll`) and whether a build step exists (`can_build`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from neodev.protocol import Health


@dataclass(frozen=True)
class LaunchResult:
    """What `Runner.start` did."""

    adopted: bool = False
    """True when an already running unit with an unchanged config was taken over as is."""
    detail: str = ""


@dataclass(frozen=True)
class HealthReport:
    health: Health
    detail: str = ""


@dataclass(frozen=True)
class Stats:
    cpu_percent: float
    memory_bytes: int


@dataclass(frozen=True)
class BuildOutcome:
    """Outcome of a unit's build step (run before a reload restart)."""

    ok: bool
    output: str
    """Combined stdout and stderr (or why it could not run)."""
    duration: float
    """Seconds."""


Progress = Callable[[str], None]
"""progress(step) — what a start is doing now ("pulling image x", "creating container"): the
engine shows it as the unit's reason while it starts."""

LogSink = Callable[[str, str, float], None]
"""sink(line, stream, timestamp) — drivers call it for each output line of their unit (on the
event loop). The daemon masks secrets and keeps the line in the engine's log store."""


class Runner(Protocol):
    """One unit's runtime handle, created by a driver with the unit's spec and a log sink."""

    @property
    def name(self) -> str: ...

    @property
    def first_health_poll(self) -> float:
        """Pause between health observations during the first second after a start: short
        for a probe neodev runs itself (a reload is ready the moment the app answers), longer
        where each observation is an engine call reading a verdict the engine makes itself."""
        ...

    @property
    def health_poll(self) -> float:
        """Longest pause between health observations until the unit is healthy (the engine
        starts faster, right after a start): the probe's interval for a process, a fraction
        of a second for Docker's own healthcheck, which Docker evaluates itself."""
        ...

    @property
    def can_build(self) -> bool:
        """Whether `build()` does something (a process with a build step)."""
        ...

    async def start(self, progress: Progress | None = None) -> LaunchResult:
        """Create (or adopt) and launch the unit; return once it runs. Raise NeodevError
        (EngineUnreachable when the unit's engine is gone, not the unit)."""
        ...

    async def can_start(self) -> bool:
        """After a start failed as `unavailable` (an image that cannot be had): whether it
        could start now. A cheap local look (is the image there now?), never a pull; the
        engine asks on its steady probe pace while the unit is unavailable."""
        ...

    def answers_probe(self, line: str, ts: float) -> bool:
        """Whether an output line (kept at wall-clock `ts`) answers one of the unit's own
        probes — the app's access-log line of a probe's request — so clients can hide it."""
        ...

    async def wait_exit(self) -> int:
        """Resolve with the exit code when the unit stops running (for any reason)."""
        ...

    async def health(self) -> HealthReport:
        """One readiness observation (Docker's health status, or one probe attempt)."""
        ...

    async def liveness(self) -> HealthReport | None:
        """One liveness attempt (UNHEALTHY once its failure threshold is reached), or None
        when the unit has no liveness probe."""
        ...

    async def stop(self, grace: float) -> None:
        """Stop politely, then forcibly after `grace` seconds. Idempotent."""
        ...

    async def stats(self) -> Stats | None:
        """One CPU/memory sample, or None while not running."""
        ...

    async def build(self) -> BuildOutcome:
        """Run the build step; ok when there is none."""
        ...
