"""The seam between the engine and the drivers.

The engine drives units through `Runner` objects and never learns whether a unit is a
container or a process. A driver (neodev.docker, neodev.process) implements `Runner` for its
kind of unit; the daemon builds the runners and hands them to the engine. Every method is async:
drivers push blocking work (docker SDK, psutil) to threads themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from neodev.engine.events import Health


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


LogSink = Callable[[str, str, float], None]
"""sink(line, stream, timestamp) — drivers call it for each output line of their unit. The
engine keeps each unit's recent lines (for `logs -n` and failure reports) from this sink."""


class Runner(Protocol):
    """One unit's runtime handle, created by a driver with the unit's spec and a log sink."""

    @property
    def name(self) -> str: ...

    async def start(self) -> LaunchResult:
        """Create (or adopt) and launch the unit; return once it runs. Raise NeodevError."""
        ...

    async def wait_exit(self) -> int:
        """Resolve with the exit code when the unit stops running (for any reason)."""
        ...

    async def health(self) -> HealthReport:
        """One health observation (Docker's health status, or one readiness probe attempt)."""
        ...

    async def stop(self, grace: float) -> None:
        """Stop politely, then forcibly after `grace` seconds. Idempotent."""
        ...

    async def stats(self) -> Stats | None:
        """One CPU/memory sample, or None while not running."""
        ...
