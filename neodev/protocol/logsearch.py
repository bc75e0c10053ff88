"""What `GET /v1/logs` means: the one matcher and pager over retained lines.

The daemon's log store answers pages from its rings with these, and the report viewer answers
the same requests from a recorded archive with the same functions, so a search or a filter in
the dashboard finds the same lines live and in a report.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Iterable, Iterator, Reversible
from dataclasses import dataclass

from neodev.protocol.logs import LogRecord

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


def strip_ansi(text: str) -> str:
    """`text` without terminal escape sequences (for searching what a person sees)."""
    return _ANSI.sub("", text) if "\x1b" in text else text


@dataclass(frozen=True)
class LogQuery:
    """What to look for: a substring (`text`) or a regular expression, and where."""

    units: frozenset[str] | None = None
    streams: frozenset[str] | None = None
    text: str | None = None
    regex: str | None = None
    ignore_case: bool = True
    levels: frozenset[str] | None = None

    def matcher(self) -> Callable[[LogRecord], bool]:
        """A predicate over records.

        Raises:
            re.error: an invalid regular expression.
        """
        flags = re.IGNORECASE if self.ignore_case else 0
        pattern = re.compile(self.regex, flags) if self.regex else None
        needle = self.text.lower() if self.text and self.ignore_case else self.text

        def match(record: LogRecord) -> bool:
            if self.streams is not None and record.stream not in self.streams:
                return False
            if self.levels is not None and record.level not in self.levels:
                return False
            if needle is None and pattern is None:
                return True
            line = strip_ansi(record.line)
            if needle is not None and needle not in (line.lower() if self.ignore_case
                                                     else line):
                return False
            return pattern is None or pattern.search(line) is not None

        return match


Ring = Reversible[LogRecord]
"""One unit's retained lines, oldest first (ids grow along it)."""


def select(rings: Iterable[Ring], query: LogQuery, *, before: int | None = None,
           after: int | None = None, limit: int = 200,
           since: float | None = None) -> list[LogRecord]:
    """Matching lines of `rings`, merged by id, oldest first: the newest `limit` before
    `before` (paging backwards), or the oldest `limit` after `after` (following). The caller
    picks the rings of `query.units`.

    Raises:
        re.error: the query's regular expression is invalid.
    """
    match = query.matcher()
    rings = list(rings)
    if after is not None:
        found = [r for r in _merged(rings, reverse=False)
                 if r.id > after and (since is None or r.ts >= since) and match(r)]
        return found[:limit]
    picked: list[LogRecord] = []
    for record in _merged(rings, reverse=True):
        if before is not None and record.id >= before:
            continue
        if since is not None and record.ts < since:
            continue
        if match(record):
            picked.append(record)
            if len(picked) >= limit:
                break
    picked.reverse()
    return picked


def _merged(rings: list[Ring], reverse: bool) -> Iterator[LogRecord]:
    """Every line of `rings` by id (each ring is already in id order)."""
    iterators = [reversed(ring) if reverse else iter(ring) for ring in rings]
    return heapq.merge(*iterators, key=lambda r: r.id, reverse=reverse)
