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
from neodev.engine.lines import MAX_LINE_CHARS, bound_line
from neodev.protocol import LogEvent, LogRecord
from neodev.protocol.logsearch import LogQuery, select, strip_ansi

DEFAULT_LINES_PER_UNIT = 5_000
"""Lines kept per unit unless the profile says otherwise (`[project] log_lines`)."""
LEVEL_SCAN_CHARS = 200
"""Only the start of a line is read for its level: the level is written near the front."""

_LEVELS = (
    ("error", re.compile(r"\b(?:ERROR|ERR|FATAL|CRITICAL|PANIC|SEVERE|Traceback|Exception)\b|"
                         r"level[\"']?\s*[=:]\s*[\"']?(?:error|fatal|critical|panic)\b",
                         re.IGNORECASE),
     ("err", "fatal", "critical", "panic", "severe", "traceback", "exception")),
    ("warn", re.compile(r"\b(?:WARN|WARNING)\b|level[\"']?\s*[=:]\s*[\"']?warn", re.IGNORECASE),
     ("warn",)),
    ("info", re.compile(r"\bINFO\b|level[\"']?\s*[=:]\s*[\"']?info\b", re.IGNORECASE),
     ("info",)),
    ("debug", re.compile(r"\b(?:DEBUG|TRACE)\b|level[\"']?\s*[=:]\s*[\"']?(?:debug|trace)\b",
                         re.IGNORECASE),
     ("debug", "trace")),
)
"""Each level, in order of precedence, with its pattern and its clues: every match of the pattern
begins with one of these lower-case words, or with `level` (a clue of every level)."""


def detect_level(line: str) -> str | None:
    """error | warn | info | debug when the start of the line says so, else None."""
    head = strip_ansi(line[:LEVEL_SCAN_CHARS])
    if not head.isascii():
        # Beyond ASCII, re's case folding has more equivalents (U+0131, a dotless i, matches i).
        return next((level for level, pattern, _ in _LEVELS if pattern.search(head)), None)
    # In ASCII text only the 26 letters match case-insensitively, at the same positions in the
    # lower-cased text: a pattern is searched only from the first of its clues, and not at all
    # without one. Searching every pattern over the whole head cost ~10 µs a line, more than
    # all the rest of a line's way through the store.
    lowered = head.lower()
    level_at = lowered.find("level")
    for level, pattern, clues in _LEVELS:
        start = level_at
        for clue in clues:
            if clue in lowered:
                at = lowered.find(clue)
                if start < 0 or at < start:
                    start = at
        if start >= 0 and pattern.search(head, start):
            return level
    return None




Mask = Callable[[str], str]
"""Replaces secret values in a text (the daemon's `mask_text` over the plan's secrets)."""




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

    def append(self, unit: str, line: str, stream: str, ts: float) -> LogRecord:
        """Mask, bound and keep one line; publish it and hand it on."""
        self.last_id += 1
        line = self.mask(line)
        if len(line) > MAX_LINE_CHARS:
            line = bound_line(line)
        record = LogRecord(self.last_id, unit, ts, stream, line, detect_level(line))
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
