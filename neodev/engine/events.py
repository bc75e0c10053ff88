"""The one event stream: everything that happens to a unit is one of these small records.

The engine publishes them on an `EventBus`; the daemon forwards them to API clients (status,
logs, the TUI), so what the dashboard shows and what `status` prints come from the same source.
Events are plain frozen dataclasses with a `type` tag so they serialise to JSON directly.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class UnitState(StrEnum):
    PENDING = "pending"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    EXITED = "exited"
    CRASHED = "crashed"
    BACKOFF = "backoff"


class Health(StrEnum):
    NONE = "none"
    """The unit has no readiness check."""
    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True)
class Event:
    unit: str
    ts: float = field(default_factory=time.time, kw_only=True)
    type: str = field(default="event", kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StateChanged(Event):
    state: UnitState = UnitState.PENDING
    reason: str = ""
    exit_code: int | None = None
    type: str = field(default="state", kw_only=True)


@dataclass(frozen=True)
class HealthChanged(Event):
    health: Health = Health.NONE
    detail: str = ""
    type: str = field(default="health", kw_only=True)


@dataclass(frozen=True)
class LogLine(Event):
    line: str = ""
    stream: str = "stdout"
    type: str = field(default="log", kw_only=True)


@dataclass(frozen=True)
class StatsSample(Event):
    cpu_percent: float = 0.0
    memory_bytes: int = 0
    type: str = field(default="stats", kw_only=True)


@dataclass(frozen=True)
class ReloadEvent(Event):
    """A hot reload: `phase` is triggered | building | build_failed | restarted."""

    phase: str = "triggered"
    files: tuple[str, ...] = ()
    duration: float | None = None
    detail: str = ""
    type: str = field(default="reload", kw_only=True)


@dataclass(frozen=True)
class ProgressEvent(Event):
    """A step of a longer operation (cluster up, image pull): step, outcome, duration."""

    step: str = ""
    outcome: str = "running"
    duration: float | None = None
    detail: str = ""
    type: str = field(default="progress", kw_only=True)


class EventBus:
    """Fan-out of events to any number of async subscribers, with bounded queues.

    A slow subscriber loses its oldest events rather than blocking the engine; it is told how
    many it missed through the `dropped` counter of its subscription.
    """

    def __init__(self, queue_size: int = 10_000) -> None:
        self._queue_size = queue_size
        self._subscribers: set[Subscription] = set()

    def publish(self, event: Event) -> None:
        for sub in list(self._subscribers):
            sub.offer(event)

    def subscribe(self) -> Subscription:
        sub = Subscription(self, self._queue_size)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)


class Subscription:
    """One subscriber's bounded queue; iterate it with `async for`."""

    def __init__(self, bus: EventBus, size: int) -> None:
        self._bus = bus
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=size)
        self.dropped = 0

    def offer(self, event: Event) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    def close(self) -> None:
        self._bus.unsubscribe(self)

    async def __aiter__(self) -> AsyncIterator[Event]:
        try:
            while True:
                yield await self.queue.get()
        finally:
            self.close()
