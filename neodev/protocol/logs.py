"""Output lines: one retained line, a page of them, and a gap in a followed stream."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from neodev.jsontypes import JsonObject
from neodev.protocol.codec import ProtocolError, decode, encode


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
    probe: bool = False
    """The line answers one of neodev's own probes (the app's access-log line of a readiness
    or liveness request): clients hide these unless asked (`LogQuery.probes`)."""

    def __init__(self, id: int, unit: str, ts: float, stream: str, line: str,
                 level: str | None = None, probe: bool = False) -> None:
        # Written out (see slot_setters): a log flood makes tens of thousands a second.
        set_id, set_unit, set_ts, set_stream, set_line, set_level, set_probe = _LOG_RECORD_SLOTS
        set_id(self, id)
        set_unit(self, unit)
        set_ts(self, ts)
        set_stream(self, stream)
        set_line(self, line)
        set_level(self, level)
        set_probe(self, probe)


def slot_setters(cls: type, names: tuple[str, ...]) -> tuple[Callable[[Any, Any], None], ...]:
    """The setters of a frozen dataclass's slots, for an `__init__` written out: the generated
    one goes through `object.__setattr__` for each field, twice as slow (~0.9 µs a record)."""
    return tuple(getattr(cls, name).__set__ for name in names)


_LOG_RECORD_SLOTS = slot_setters(LogRecord, ("id", "unit", "ts", "stream", "line", "level",
                                             "probe"))


@dataclass(frozen=True, slots=True)
class LogGap:
    """A followed stream fell behind: `missed` lines were not kept for it."""

    missed: int


@dataclass(frozen=True, slots=True)
class LogPage:
    """`GET /v1/logs`: retained lines oldest first; `more` when the page was full."""

    lines: tuple[LogRecord, ...] = ()
    last_id: int = 0
    """The newest id the daemon has given (to follow from)."""
    more: bool = False


def follow_item(item: LogRecord | LogGap) -> JsonObject:
    """One item of `GET /v1/logs/follow` as it goes on the wire (`type` tells them apart)."""
    if isinstance(item, LogGap):
        return {"type": "gap", "missed": item.missed}
    return {"type": "log", **encode(item)}


def read_follow_item(data: Any) -> LogRecord | LogGap:
    """The inverse of `follow_item`."""
    kind = data.get("type") if isinstance(data, dict) else None
    if kind == "log":
        return decode(LogRecord, data)
    if kind == "gap":
        return decode(LogGap, data)
    raise ProtocolError(f"a followed line of unknown type {kind!r}")
