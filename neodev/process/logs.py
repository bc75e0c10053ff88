"""Where a process's output goes: the event sink, a bounded in-memory ring, a rotating file.

Each line is timestamped when it is read. The file (`.neodev/logs/<unit>.log`) is rotated by
size (`<unit>.log.1` … `.N`), so a chatty process cannot fill the disk; the ring keeps the last
lines for error reports (a crash, a failed readiness check).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from neodev.engine.runner import LogSink

DEFAULT_RING_LINES = 1000
DEFAULT_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_BACKUPS = 3


@dataclass(frozen=True)
class LogEntry:
    ts: float
    stream: str
    line: str

    def format(self) -> str:
        """`2026-11-26T22:04:00.123Z stdout | the line` (UTC)."""
        stamp = datetime.fromtimestamp(self.ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
        return f"{stamp[:-3]}Z {self.stream} | {self.line}"


class RotatingFile:
    """An append-only text file rotated when it would exceed `max_bytes`."""

    def __init__(self, path: Path, max_bytes: int = DEFAULT_MAX_BYTES,
                 backups: int = DEFAULT_BACKUPS) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self._fh: TextIO | None = None
        self._size = 0

    def write_line(self, text: str) -> None:
        data = text + "\n"
        size = len(data.encode("utf-8"))
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open
            self._size = self._fh.tell()
        if self._size and self._size + size > self.max_bytes:
            self._rotate()
        assert self._fh is not None
        self._fh.write(data)
        self._fh.flush()  # `tail -f` and a crash report should see the line now
        self._size += size

    def _rotate(self) -> None:
        assert self._fh is not None
        self._fh.close()
        for n in range(self.backups, 0, -1):
            src = self.path if n == 1 else self.path.with_name(f"{self.path.name}.{n - 1}")
            if src.exists():
                src.replace(self.path.with_name(f"{self.path.name}.{n}"))
        if self.backups == 0:
            self.path.unlink(missing_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open
        self._size = 0

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class UnitLog:
    """Fans each output line of one unit out to the sink, the ring and the file.

    Args:
        sink: `sink(line, stream, timestamp)` — the engine's event stream.
        file: The unit's rotating log file.
        ring_lines: Lines kept in memory.
        clock: Wall clock (injected for tests).
    """

    def __init__(self, sink: LogSink, file: RotatingFile, ring_lines: int = DEFAULT_RING_LINES,
                 clock: Callable[[], float] = time.time) -> None:
        self.sink = sink
        self.file = file
        self.ring: deque[LogEntry] = deque(maxlen=ring_lines)
        self._now = clock

    def emit(self, line: str, stream: str) -> LogEntry:
        """Record one line (without its newline)."""
        entry = LogEntry(self._now(), stream, line)
        self.ring.append(entry)
        self.file.write_line(entry.format())
        self.sink(line, stream, entry.ts)
        return entry

    def recent(self, n: int) -> list[str]:
        """The last n lines, formatted with their timestamps."""
        if n <= 0:
            return []
        return [e.format() for e in list(self.ring)[-n:]]

    def close(self) -> None:
        self.file.close()
