"""The daemon's wire schema: every record that crosses the control socket, in one place.

The engine produces these records, the daemon serialises them, and the CLI and the dashboard
read them back with `from_dict` — so all four agree on one shape. Plain frozen dataclasses
(standard library only: a client imports this in milliseconds), each with `to_dict()` giving
JSON-able data and `from_dict()` reading it back.

The event stream (`GET /v1/events`) is a snapshot followed by events, each with a sequence
number `seq` that grows by one per event of the daemon `instance`. Folding the stream —
replacing a unit's record whenever a `unit` event carries one — gives exactly the `units` of
`GET /v1/status` at the same `seq`. A subscriber that falls behind gets a `resync` naming how
many events it missed, then a fresh snapshot: never a silent gap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any, ClassVar

PROTOCOL_VERSION = 1
"""Bumped on any incompatible change of the records below (`/v1/ping` reports it)."""


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


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """The items of `data` that are fields of the dataclass `cls` (newer peers may add more)."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass(frozen=True, slots=True)
class ReloadRecord:
    """The outcome of a unit's latest hot reload."""

    outcome: str
    """ok | build_failed | failed (restarted but not ready)."""
    cause: str
    """The changed files, shortened: `src/a.kt, src/b.kt and 3 more`."""
    files: tuple[str, ...] = ()
    duration: float | None = None
    """Seconds from the file event to ready (ok), or the build's duration (build_failed)."""
    detail: str = ""
    at: float = 0.0
    """Wall-clock time the reload ended."""

    @property
    def summary(self) -> str:
        if self.outcome == "ok":
            return f"reloaded in {self.duration or 0:.2f}s ({self.cause})"
        if self.outcome == "build_failed":
            return f"build failed ({self.cause}): {self.detail}"
        return f"restarted but not ready ({self.cause}): {self.detail}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["files"] = list(self.files)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReloadRecord:
        data = _known(cls, data)
        data["files"] = tuple(data.get("files") or ())
        return cls(**data)


@dataclass(frozen=True, slots=True)
class UnitRecord:
    """One unit's status, as `neodev status` prints it and the dashboard shows it."""

    name: str
    kind: str
    state: UnitState = UnitState.PENDING
    health: Health = Health.NONE
    ready: bool = False
    """Running and healthy (or, without a readiness check, up for its settle time)."""
    reason: str = ""
    """Why the unit is in its state (waiting for X, exited with code 1, crash loop...)."""
    health_detail: str = ""
    exit_code: int | None = None
    restarts: int = 0
    failures: int = 0
    """Consecutive failed runs; reset once a run stays up for the backoff's stable period."""
    crash_loop: bool = False
    """Failed CRASH_LOOP_FAILURES times in a row and not yet stable again."""
    start_failed: bool = False
    """The latest attempt failed before the unit ran (missing image, cwd, command...)."""
    started_at: float | None = None
    """Wall-clock time the current run began (None while not running)."""
    adopted: bool = False
    """The running container was taken over from an earlier daemon, not started anew."""
    desired: str = "stopped"
    """running | stopped: what the unit is driven to (a stopped unit is not reloaded)."""
    cpu_percent: float | None = None
    memory_bytes: int | None = None
    endpoints: tuple[str, ...] = ()
    """Published ports / URLs: `127.0.0.1:5432->5432`, `http://127.0.0.1:8080`."""
    last_reload: ReloadRecord | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = str(self.state)
        data["health"] = str(self.health)
        data["endpoints"] = list(self.endpoints)
        data["last_reload"] = self.last_reload.to_dict() if self.last_reload else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UnitRecord:
        data = _known(cls, data)
        data["state"] = UnitState(data.get("state", "pending"))
        data["health"] = Health(data.get("health", "none"))
        data["endpoints"] = tuple(data.get("endpoints") or ())
        reload = data.get("last_reload")
        data["last_reload"] = ReloadRecord.from_dict(reload) if reload else None
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Why one unit is, or is not, ready at the end of a wait."""

    unit: str
    ok: bool
    state: str
    health: str
    reason: str = ""
    held_back_by: str | None = None
    """The failed dependency that keeps this unit from starting (its own verdict says why)."""
    optional: bool = False
    """An optional unit that is not ready: `ok` (the environment does not need it), said so."""
    last_logs: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["last_logs"] = list(self.last_logs)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        data = _known(cls, data)
        data["last_logs"] = tuple(data.get("last_logs") or ())
        return cls(**data)


@dataclass(frozen=True, slots=True, init=False)
class LogRecord:
    """One retained output line. `id` grows across all units of a daemon instance."""

    id: int
    unit: str
    ts: float
    stream: str
    """stdout | stderr | neodev (lines neodev adds: pulls, reloads, lost streams)."""
    line: str
    level: str | None = None
    """error | warn | info | debug when the line says so, else None."""

    def __init__(self, id: int, unit: str, ts: float, stream: str, line: str,
                 level: str | None = None) -> None:
        # Written out (see _slot_setters): a log flood makes tens of thousands a second.
        _set_id, _set_unit, _set_ts, _set_stream, _set_line, _set_level = _LOG_RECORD_SLOTS
        _set_id(self, id)
        _set_unit(self, unit)
        _set_ts(self, ts)
        _set_stream(self, stream)
        _set_line(self, line)
        _set_level(self, level)

    def to_dict(self) -> dict[str, Any]:
        # Spelled out, not `asdict` (which copies recursively, ~20x slower): a follower of a
        # log flood encodes tens of thousands of these a second.
        return {"id": self.id, "unit": self.unit, "ts": self.ts, "stream": self.stream,
                "line": self.line, "level": self.level}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LogRecord:
        return cls(**_known(cls, data))


def _slot_setters(cls: type, names: tuple[str, ...]) -> tuple[Callable[[Any, Any], None], ...]:
    """The setters of a frozen dataclass's slots, for an `__init__` written out: the generated
    one goes through `object.__setattr__` for each field, twice as slow (~0.9 µs a record)."""
    return tuple(getattr(cls, name).__set__ for name in names)


_LOG_RECORD_SLOTS = _slot_setters(LogRecord, ("id", "unit", "ts", "stream", "line", "level"))


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A long operation the daemon runs on its own (a cluster mirror up/status/down)."""

    id: str
    kind: str
    """cluster"""
    action: str
    target: str
    """e.g. the cluster profile (staging, prod)."""
    state: str = "running"
    """running | succeeded | failed"""
    started_at: float = 0.0
    ended_at: float | None = None
    steps: tuple[dict[str, Any], ...] = ()
    """Progress so far: {step, outcome, duration, detail}."""
    report: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["steps"] = list(self.steps)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobRecord:
        data = _known(cls, data)
        data["steps"] = tuple(data.get("steps") or ())
        return cls(**data)


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    """A snapshot of a dev database: a sealed template copy on the same Postgres server."""

    name: str
    database: str
    """The database it is a copy of (and that `restore` puts it back into)."""
    server: str
    """The Postgres unit."""
    taken_at: float
    size_bytes: int
    automatic: bool = False
    """Taken by `restore` to keep the data it replaced."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SnapshotRecord:
        return cls(**_known(cls, data))


# --- events -------------------------------------------------------------------------------------

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

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.TYPE, **asdict(self)}


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

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.TYPE, "seq": self.seq, "ts": self.ts, "unit": self.status.name,
                "status": self.status.to_dict(), "changed": list(self.changed)}


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
        _set_seq, _set_ts, _set_record = _LOG_EVENT_SLOTS  # written out, as LogRecord's
        _set_seq(self, seq)
        _set_ts(self, ts)
        _set_record(self, record if record is not None else LogRecord(0, "", 0.0, "", ""))

    @property
    def unit_name(self) -> str:
        return self.record.unit

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.TYPE, "seq": self.seq, "ts": self.ts, "unit": self.record.unit,
                "record": self.record.to_dict()}


_LOG_EVENT_SLOTS = _slot_setters(LogEvent, ("seq", "ts", "record"))


@dataclass(frozen=True, slots=True)
class JobChanged(Event):
    """A job made progress or ended; `job` is the whole new record."""

    TYPE: ClassVar[str] = "job"
    job: JobRecord = field(default_factory=lambda: JobRecord("", "", "", ""))

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.TYPE, "seq": self.seq, "ts": self.ts, "job": self.job.to_dict()}


@dataclass(frozen=True, slots=True)
class Snapshot(Event):
    """Every unit's record at `seq`: the starting point of a fold."""

    TYPE: ClassVar[str] = "snapshot"
    instance: str = ""
    units: tuple[UnitRecord, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.TYPE, "seq": self.seq, "ts": self.ts, "instance": self.instance,
                "units": [u.to_dict() for u in self.units]}


@dataclass(frozen=True, slots=True)
class Resync(Event):
    """The subscriber missed `missed` events (it fell behind, or asked for a `since` the daemon
    no longer holds); a fresh snapshot follows."""

    TYPE: ClassVar[str] = "resync"
    missed: int = 0
    why: str = ""


EVENT_TYPES = ("unit", "reload", "log", "job")
"""The event types a client can filter on (snapshots and resyncs always come)."""


def event_from_dict(data: dict[str, Any]) -> Event:
    """Read an event back from its `to_dict()` form.

    Raises:
        ValueError: an unknown event type.
    """
    kind = data.get("type")
    seq, ts = int(data.get("seq", 0)), float(data.get("ts", 0.0))
    if kind == UnitChanged.TYPE:
        return UnitChanged(seq, ts, UnitRecord.from_dict(data["status"]),
                           tuple(data.get("changed") or ()))
    if kind == LogEvent.TYPE:
        return LogEvent(seq, ts, LogRecord.from_dict(data["record"]))
    if kind == ReloadPhase.TYPE:
        return ReloadPhase(seq, ts, data.get("unit", ""), data.get("phase", ""),
                           tuple(data.get("files") or ()), data.get("duration"),
                           data.get("detail", ""))
    if kind == JobChanged.TYPE:
        return JobChanged(seq, ts, JobRecord.from_dict(data["job"]))
    if kind == Snapshot.TYPE:
        return Snapshot(seq, ts, data.get("instance", ""),
                        tuple(UnitRecord.from_dict(u) for u in data.get("units") or ()))
    if kind == Resync.TYPE:
        return Resync(seq, ts, int(data.get("missed", 0)), data.get("why", ""))
    raise ValueError(f"unknown event type {kind!r}")


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
