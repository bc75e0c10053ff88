"""The event stream (`GET /v1/events`): a snapshot followed by events, each numbered.

Each event has a sequence number `seq` that grows by one per event of the daemon `instance`.
Folding the stream — replacing a unit's record whenever a `unit` event carries one — gives
exactly the `units` of `GET /v1/status` at the same `seq`. A subscriber that falls behind gets a
`resync` naming how many events it missed, then a fresh snapshot: never a silent gap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from neodev.jsontypes import JsonObject
from neodev.protocol.cluster import JobRecord
from neodev.protocol.codec import ProtocolError, decode, encode
from neodev.protocol.logs import LogRecord, slot_setters
from neodev.protocol.units import UnitRecord


@dataclass(frozen=True, slots=True)
class Event:
    """Base of everything on the event stream."""

    TYPE: ClassVar[str] = "event"
    seq: int
    ts: float

    @property
    def type(self) -> str:
        return self.TYPE

    @property
    def unit_name(self) -> str | None:
        """The unit the event is about (for filters), if any."""
        return None


@dataclass(frozen=True, slots=True)
class UnitChanged(Event):
    """A unit's status record changed; `status` is the whole new record."""

    TYPE: ClassVar[str] = "unit"
    status: UnitRecord = field(default_factory=lambda: UnitRecord("", ""))
    changed: tuple[str, ...] = ()
    """Names of the fields that changed (state, health, reason, cpu_percent...)."""

    @property
    def unit_name(self) -> str:
        return self.status.name


@dataclass(frozen=True, slots=True)
class ReloadPhase(Event):
    """A step of a hot reload: triggered | building | build_failed | restarted | failed."""

    TYPE: ClassVar[str] = "reload"
    unit: str = ""
    phase: str = "triggered"
    files: tuple[str, ...] = ()
    duration: float | None = None
    detail: str = ""

    @property
    def unit_name(self) -> str:
        return self.unit


@dataclass(frozen=True, slots=True, init=False)
class LogEvent(Event):
    """A new output line (also retained in the log store under `record.id`)."""

    TYPE: ClassVar[str] = "log"
    record: LogRecord = field(default_factory=lambda: LogRecord(0, "", 0.0, "", ""))

    def __init__(self, seq: int, ts: float, record: LogRecord | None = None) -> None:
        set_seq, set_ts, set_record = _LOG_EVENT_SLOTS  # written out, as LogRecord's
        set_seq(self, seq)
        set_ts(self, ts)
        set_record(self, record if record is not None else LogRecord(0, "", 0.0, "", ""))

    @property
    def unit_name(self) -> str:
        return self.record.unit


_LOG_EVENT_SLOTS = slot_setters(LogEvent, ("seq", "ts", "record"))


@dataclass(frozen=True, slots=True)
class JobChanged(Event):
    """A job made progress or ended; `job` is the whole new record."""

    TYPE: ClassVar[str] = "job"
    job: JobRecord = field(default_factory=lambda: JobRecord("", "", "", ""))


@dataclass(frozen=True, slots=True)
class Snapshot(Event):
    """Every unit's record at `seq`: the starting point of a fold."""

    TYPE: ClassVar[str] = "snapshot"
    instance: str = ""
    units: tuple[UnitRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class Resync(Event):
    """The subscriber missed `missed` events (it fell behind, or asked for a `since` the daemon
    no longer holds); a fresh snapshot follows."""

    TYPE: ClassVar[str] = "resync"
    missed: int = 0
    why: str = ""


EVENT_TYPES = ("unit", "reload", "log", "job")
"""The event types a client can filter on (snapshots and resyncs always come)."""
_CLASSES: dict[str, type[Event]] = {cls.TYPE: cls for cls in (
    UnitChanged, ReloadPhase, LogEvent, JobChanged, Snapshot, Resync)}


def encode_event(event: Event) -> JsonObject:
    """An event as it goes on the wire: its fields, its `type`, and the unit it is about."""
    data: JsonObject = {"type": event.TYPE, **encode(event)}
    unit = event.unit_name
    if unit is not None:
        data.setdefault("unit", unit)
    return data


def decode_event(data: Any) -> Event:
    """An event read back from `encode_event`'s form.

    Raises:
        ProtocolError: an unknown event type, or an event of the wrong shape.
    """
    kind = data.get("type") if isinstance(data, dict) else None
    cls = _CLASSES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ProtocolError(f"unknown event type {kind!r}")
    return decode(cls, data)


def fold(units: dict[str, UnitRecord], event: Event) -> dict[str, UnitRecord]:
    """Apply one event to a client's view of the units (in place; returned for convenience).

    A snapshot replaces the view; a `unit` event replaces one record; other events change no
    record.
    """
    if isinstance(event, Snapshot):
        units.clear()
        units.update((u.name, u) for u in event.units)
    elif isinstance(event, UnitChanged):
        units[event.status.name] = event.status
    return units
