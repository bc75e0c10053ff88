"""What a unit's supervisor may use of the engine: a small context instead of the engine itself.

A `UnitSupervisor` needs the clock, the event bus and the log store, the other units' status
records (to wait for its dependencies) and a way to wake whoever waits for a status change —
nothing else. The engine builds one `UnitContext` and hands it to every supervisor and to the
reload coordinator, so the modules depend on this one, never on each other or on the engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from neodev.engine.events import EventBus
from neodev.engine.logs import LogStore
from neodev.protocol import UnitChanged, UnitRecord
from neodev.timing import Sleep, sleep_unless

STATS_FIELDS = frozenset({"cpu_percent", "memory_bytes"})
"""A change of only these fields is published but wakes no status waiter (it happens every
few seconds for every unit and decides nothing)."""


class ChangeSignal:
    """Wakes every waiter at the next status change (a fresh asyncio.Event per change)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self) -> None:
        await self._event.wait()

    async def wait_at_most(self, seconds: float) -> None:
        """Until the next change, or `seconds` (whichever comes first)."""
        await sleep_unless(self._event, seconds)


@dataclass
class UnitContext:
    """The engine as its supervisors see it."""

    bus: EventBus
    logs: LogStore
    clock: Callable[[], float]
    """Monotonic seconds (uptimes, backoff, timeouts)."""
    wall: Callable[[], float]
    """Wall-clock seconds (timestamps people read)."""
    sleep: Sleep
    stats_interval: float
    """Seconds between CPU/memory samples while someone watches (`bus.looking`)."""
    idle_stats_interval: float
    """Seconds between samples while nobody does: the daemon's idle cost stays low."""
    status_of: Callable[[str], UnitRecord]
    changes: ChangeSignal

    async def until_next_sample(self) -> None:
        """The pause before the next stats sample: short while someone watches; long
        otherwise, but cut short the moment someone starts watching."""
        if self.bus.looking.is_set():
            await self.sleep(self.stats_interval)
            return
        await sleep_unless(self.bus.looking, self.idle_stats_interval, self.sleep)

    def publish_status(self, record: UnitRecord, changed: tuple[str, ...]) -> None:
        """Publish a unit's new record; wake status waiters unless only stats changed."""
        self.bus.emit(UnitChanged, status=record, changed=changed)
        if not STATS_FIELDS.issuperset(changed):
            self.changes.notify()
