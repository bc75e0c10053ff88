"""Every unit's output as a queryable store: one bounded ring per unit, one id sequence.

All output lines of all units pass through `LogStore.append` — after the daemon masked their
secrets — and nowhere else is a copy kept in memory: error reports, `logs -n`, the dashboard's
scroll-back and search all read from here. Each retained line gets an `id` that grows across
units, so a client pages backwards (`before=<id>`) or follows (`after=<id>`) a merged view
without gaps, and a search answers only the matching lines, each with its id.

A line is bounded when it enters: beyond `MAX_LINE_CHARS` it is cut and marked, so one huge line
(a JSON blob, a minified bundle) costs a bounded amount of memory and time everywhere after.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable

from neodev.engine.events import EventBus
from neodev.protocol import LogEvent, LogRecord
from neodev.protocol.logsearch import LogQuery, select, strip_ansi

DEFAULT_LINES_PER_UNIT = 5_000
"""Lines kept per unit unless the profile says otherwise (`[project] log_lines`)."""
MAX_LINE_CHARS = 16_384
"""A longer line is cut here and marked; the rest is counted, not kept."""
MARKER_ROOM = 100
"""Room left for the marker a driver's `LineSplitter` adds, so its cut line stays under
`MAX_LINE_CHARS` and is not cut (and marked) a second time by the store."""
LEVEL_SCAN_CHARS = 200
"""Only the start of a line is read for its level: the level is written near the front."""

_LEVEL_WORDS = (
    ("error", re.compile(r"\b(?:ERROR|ERR|FATAL|CRITICAL|PANIC|SEVERE|Traceback|Exception)\b|"
                         r"level[\"']?\s*[=:]\s*[\"']?(?:error|fatal|critical|panic)\b",
                         re.IGNORECASE)),
    ("warn", re.compile(r"\b(?:WARN|WARNING)\b|level[\"']?\s*[=:]\s*[\"']?warn", re.IGNORECASE)),
    ("info", re.compile(r"\bINFO\b|level[\"']?\s*[=:]\s*[\"']?info\b", re.IGNORECASE)),
    ("debug", re.compile(r"\b(?:DEBUG|TRACE)\b|level[\"']?\s*[=:]\s*[\"']?(?:debug|trace)\b",
                         re.IGNORECASE)),
)


def detect_level(line: str) -> str | None:
    """error | warn | info | debug when the start of the line says so, else None."""
    head = strip_ansi(line[:LEVEL_SCAN_CHARS])
    for level, pattern in _LEVEL_WORDS:
        if pattern.search(head):
            return level
    return None


def bound_line(line: str, limit: int = MAX_LINE_CHARS) -> str:
    """The line, cut at `limit` characters with a marker saying how much was dropped."""
    if len(line) <= limit:
        return line
    return f"{line[:limit]} … [neodev: {len(line) - limit} more characters not kept]"


class LineSplitter:
    """Bytes of output in, complete text lines out, in bounded memory.

    Both drivers read output in chunks (a process's pipes, Docker's log stream) and hand the
    chunks here. A line longer than `limit` bytes is cut at the limit with a marker, and the
    rest of it is skipped up to its newline, so neither memory nor the time spent on one line
    grows with its length.
    """

    def __init__(self, limit: int = MAX_LINE_CHARS - MARKER_ROOM) -> None:
        self._limit = limit
        self._buffer = bytearray()
        self._skipped = 0
        """Bytes of the current over-long line dropped so far (0: not in one)."""

    def feed(self, chunk: bytes) -> list[str]:
        """The lines completed by `chunk` (without their newline, `\r` stripped)."""
        lines: list[str] = []
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                self._take(chunk[start:], lines)
                return lines
            self._take(chunk[start:end], lines)
            lines.append(self._finish())
            start = end + 1

    def flush(self) -> list[str]:
        """What is left at the end of the stream, as a last line (if anything)."""
        if not self._buffer and not self._skipped:
            return []
        return [self._finish()]

    def _take(self, piece: bytes, lines: list[str]) -> None:
        if self._skipped:
            self._skipped += len(piece)
            return
        room = self._limit - len(self._buffer)
        if len(piece) <= room:
            self._buffer += piece
        else:
            self._buffer += piece[:room]
            self._skipped = len(piece) - room

    def _finish(self) -> str:
        text = self._buffer.decode("utf-8", "replace").rstrip("\r")
        if self._skipped:
            text += f" … [neodev: {self._skipped} more bytes of this line not kept]"
        self._buffer = bytearray()
        self._skipped = 0
        return text


Mask = Callable[[str], str]
"""Replaces secret values in a text (the daemon's `mask_text` over the plan's secrets)."""


__all__ = ["LineSplitter", "LogQuery", "LogStore", "bound_line", "detect_level", "strip_ansi"]
"""`LogQuery` and `strip_ansi` live in `neodev.protocol.logsearch` (the report viewer uses them
too); they are re-exported here for the daemon."""


class LogStore:
    """The retained output of every unit — the one place a line enters neodev's memory.

    Args:
        units: The unit names.
        bus: Where each new line is published (as a `LogEvent`).
        lines_per_unit: Ring size per unit.
        mask: Applied to every line before it is kept, published or written anywhere.
        on_append: Called with each kept record (the daemon's log files).
    """

    def __init__(self, units: Iterable[str], bus: EventBus,
                 lines_per_unit: int = DEFAULT_LINES_PER_UNIT, *, mask: Mask | None = None,
                 on_append: Callable[[LogRecord], None] | None = None) -> None:
        self._bus = bus
        self.mask: Mask = mask or (lambda text: text)
        self._on_append = on_append
        self.lines_per_unit = lines_per_unit
        self._rings: dict[str, deque[LogRecord]] = {
            name: deque(maxlen=lines_per_unit) for name in units}
        self.last_id = 0

    @property
    def units(self) -> list[str]:
        return list(self._rings)

    def append(self, unit: str, line: str, stream: str, ts: float, probe: bool = False
               ) -> LogRecord:
        """Mask, bound and keep one line; publish it and hand it on. `probe`: the line answers
        one of neodev's own probes (the unit's runner says so)."""
        self.last_id += 1
        line = bound_line(self.mask(line))
        record = LogRecord(self.last_id, unit, ts, stream, line, detect_level(line), probe)
        self._rings[unit].append(record)
        self._bus.emit(LogEvent, record=record)
        if self._on_append is not None:
            self._on_append(record)
        return record

    def tail(self, unit: str, n: int) -> list[LogRecord]:
        """The last `n` lines of one unit, oldest first."""
        ring = self._rings[unit]
        if n <= 0:
            return []
        return list(ring)[-n:] if n < len(ring) else list(ring)

    def page(self, query: LogQuery, *, before: int | None = None, after: int | None = None,
             limit: int = 200, since: float | None = None) -> list[LogRecord]:
        """Matching lines, oldest first: the newest `limit` before `before` (paging backwards),
        or the oldest `limit` after `after` (following). Merged across the queried units.

        Raises:
            re.error: the query's regular expression is invalid.
        """
        names = [u for u in self._rings if query.units is None or u in query.units]
        return select([self._rings[n] for n in names], query, before=before, after=after,
                      limit=limit, since=since)

    def count(self, unit: str) -> int:
        return len(self._rings[unit])
