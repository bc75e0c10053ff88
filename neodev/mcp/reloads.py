"""Which units are in the middle of a hot reload, from the daemon's reload events.

An agent edits a file and asks whether the unit is ready. While the unit's build step runs the
old process still serves, so the daemon's `wait` answers "ready" at once — about the code
before the edit. The reload is only visible on the event stream (`reload` events: triggered,
building, then build_failed, restarted or failed), so the server follows that stream for its
whole life and `wait_ready` first lets a reload in progress end.

What the server cannot know: a reload that began before it connected (it learns the unit's
outcome from `last_reload` then), and one whose file event the daemon has not seen yet (a few
milliseconds after the write).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from neodev.client.wire import AsyncClient, Connection
from neodev.protocol.events import ReloadPhase, Resync, Snapshot

IN_PROGRESS = frozenset({"triggered", "building"})
"""Phases after which the reload is still running (the others end it)."""


class ReloadWatch:
    """Each unit's latest reload phase, kept current by `follow`."""

    def __init__(self) -> None:
        self._phases: dict[str, str] = {}
        self._changed = asyncio.Event()
        self.connected = asyncio.Event()
        """Set while the stream of a daemon is followed (from its snapshot on)."""

    def reloading(self, units: Iterable[str] | None = None) -> list[str]:
        """The units (of `units`, or all) whose reload has begun and not ended."""
        names = self._phases if units is None else units
        return sorted(u for u in names if self._phases.get(u) in IN_PROGRESS)

    async def settled(self, units: Iterable[str] | None, timeout: float) -> list[str]:
        """Wait until none of `units` (or of all) is reloading, at most `timeout` seconds;
        the units still reloading then (none: all settled)."""
        wanted = None if units is None else list(units)
        deadline = time.monotonic() + timeout
        while busy := self.reloading(wanted):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return busy
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                return self.reloading(wanted)
        return []

    async def follow(self, client: AsyncClient) -> None:
        """Follow the daemon's reload events until cancelled (reconnecting by itself)."""
        async for item in client.follow_events(types=["reload"]):
            if isinstance(item, ReloadPhase):
                self._phases[item.unit] = item.phase
            elif isinstance(item, (Snapshot, Resync)) or (
                    isinstance(item, Connection) and not item.connected):
                # A new stream, a gap, or no daemon: what ran before is not known any more.
                self._phases.clear()
                if isinstance(item, Snapshot):
                    self.connected.set()
                elif isinstance(item, Connection):
                    self.connected.clear()
            else:
                continue
            self._changed.set()
            self._changed = asyncio.Event()
