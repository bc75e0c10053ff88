"""The one event stream: everything that happens to a unit, numbered, fanned out, replayable.

The engine emits the wire records of `neodev.protocol` (a unit's new status record, a reload
phase, an output line, a job's progress) on an `EventBus`. The bus numbers them (`seq`, one more
per event), keeps the latest ones for clients that reconnect with `since=<seq>`, and hands
them to any number of subscribers, each with its own filter and bounded queue. A subscriber
that falls behind is never left with a silent gap: its queue is dropped and it is told how many
events it missed (`Resync`), so it can start again from a snapshot.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from neodev.protocol import Event, LogEvent, Resync, UnitChanged

E = TypeVar("E", bound=Event)


class StreamEnded(Exception):
    """The bus was closed (the daemon is shutting down): a subscriber's stream is over."""

REPLAY_EVENTS = 10_000
"""Events kept for `since=` replays (at a log flood of 10k lines/s, about one second)."""
HISTORY_EVENTS = 10_000
"""State events (units, reloads, jobs; no output lines, no CPU/memory samples) kept since the
daemon started, for replays older than the replay ring (a report's event stream)."""
SAMPLE_FIELDS = frozenset({"cpu_percent", "memory_bytes"})
QUEUE_EVENTS = 10_000
"""Events one subscriber may have waiting before it counts as fallen behind."""


class EventBus:
    """Numbers, keeps and fans out events.

    Args:
        instance: Identifies this daemon run; sequence numbers are only comparable within it.
        wall: Wall clock for event timestamps (injected in tests).
        replay: Events kept for replays.
        queue_size: Per-subscriber queue bound.
    """

    def __init__(self, instance: str = "", wall: Callable[[], float] = time.time,
                 replay: int = REPLAY_EVENTS, queue_size: int = QUEUE_EVENTS) -> None:
        self.instance = instance
        self.seq = 0
        self._wall = wall
        self._ring: deque[Event] = deque(maxlen=replay)
        self._history: deque[Event] = deque(maxlen=HISTORY_EVENTS)
        self._history_dropped = 0
        """The newest seq the history has dropped (0: it reaches back to the start)."""
        self._queue_size = queue_size
        self._subscribers: set[Subscription] = set()
        self._routes: dict[str, tuple[Subscription, ...]] = {}
        """Event type -> the subscribers that take it, worked out once per type and change of
        subscribers, not per event (a log flood emits tens of thousands a second)."""
        self.closed = False
        self.looking = asyncio.Event()
        """Set while at least one client watches (a status or events follower of the API):
        the engine samples CPU and memory often only then."""

    def close(self) -> None:
        """End every subscriber's stream (after what is queued), so open HTTP streams finish
        at once when the daemon shuts down instead of holding the shutdown up."""
        self.closed = True
        for sub in list(self._subscribers):
            sub.wake()

    def emit(self, cls: type[E], **fields: Any) -> E:
        """Create the next event of type `cls` (seq and ts filled in) and publish it."""
        self.seq += 1
        event = cls(self.seq, self._wall(), **fields)
        self._ring.append(event)
        if _is_state(event):
            if len(self._history) == self._history.maxlen:
                self._history_dropped = self._history[0].seq
            self._history.append(event)
        subscribers = self._routes.get(cls.TYPE)
        if subscribers is None:
            subscribers = tuple(s for s in self._subscribers
                                if s.types is None or cls.TYPE in s.types)
            self._routes[cls.TYPE] = subscribers
        for sub in subscribers:
            sub.offer(event)
        return event

    def replay_since(self, seq: int, types: Collection[str] | None = None
                     ) -> list[Event] | None:
        """The kept events after `seq`, or None when they no longer reach back that far.

        Beyond the replay ring, a replay of state events only (`types` without `log`) comes
        from the state history, which keeps no CPU/memory samples (the next sample follows
        soon enough)."""
        if seq >= self.seq:
            return []
        if self._ring and self._ring[0].seq <= seq + 1:
            return [e for e in self._ring if e.seq > seq]
        if types and "log" not in types and self._history_dropped <= seq:
            return [e for e in self._history if e.seq > seq]
        return None

    def subscribe(self, units: Collection[str] | None = None,
                  types: Collection[str] | None = None, *, looking: bool = False
                  ) -> Subscription:
        """A new subscriber for events from now on (optionally only these units / types);
        `looking`: a person watches through it (a client's follower, not the daemon's own)."""
        sub = Subscription(self, self._queue_size, units, types, looking)
        self._subscribers.add(sub)
        self._routes.clear()
        if looking:
            self.looking.set()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)
        self._routes.clear()
        if not any(s.looking for s in self._subscribers):
            self.looking.clear()

    def now(self) -> float:
        return self._wall()

    def resync(self, missed: int, why: str) -> Resync:
        """A resync marker at the current position (not an event of its own: no new seq)."""
        return Resync(seq=self.seq, ts=self._wall(), missed=missed, why=why)


class Subscription:
    """One subscriber's filter and bounded queue; read it with `await next()`."""

    def __init__(self, bus: EventBus, size: int, units: Collection[str] | None,
                 types: Collection[str] | None, looking: bool = False) -> None:
        self._bus = bus
        self.looking = looking
        self._size = size
        self.units = frozenset(units) if units else None
        self.types = frozenset(types) if types else None
        self._queue: deque[Event] = deque()
        self._ready = asyncio.Event()
        self.missed = 0
        """Events lost since the last resync (0 while keeping up)."""

    def wants(self, event: Event) -> bool:
        if self.types is not None and event.type not in self.types:
            return False
        if self.units is None:
            return True
        unit = event.unit_name
        return unit is None or unit in self.units

    def offer(self, event: Event) -> None:
        """Queue an event of a type this subscriber takes (the bus routes by type)."""
        if self.units is not None:
            unit = event.unit_name
            if unit is not None and unit not in self.units:
                return
        if len(self._queue) >= self._size:
            # Fallen behind: drop what is queued and say so once, instead of losing the oldest
            # events one by one where the client cannot notice.
            self.missed += len(self._queue) + 1
            self._queue.clear()
        else:
            self._queue.append(event)
        self._ready.set()

    def pending(self) -> int:
        return len(self._queue)

    def wake(self) -> None:
        self._ready.set()

    async def next(self) -> Event:
        """The next wanted event, or a `Resync` when events were lost meanwhile.

        Raises:
            StreamEnded: the bus was closed and nothing is queued any more.
        """
        while not self._queue and not self.missed:
            if self._bus.closed:
                raise StreamEnded
            self._ready.clear()
            await self._ready.wait()
        if self.missed:
            missed, self.missed = self.missed, 0
            return self._bus.resync(missed, "the client fell behind")
        return self._queue.popleft()

    def close(self) -> None:
        self._bus.unsubscribe(self)


def _is_state(event: Event) -> bool:
    """Whether the state history keeps `event`: not an output line, not a stats sample."""
    if isinstance(event, LogEvent):
        return False
    return not (isinstance(event, UnitChanged) and event.changed
                and SAMPLE_FIELDS.issuperset(event.changed))
