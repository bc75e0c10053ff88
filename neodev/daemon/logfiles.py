"""Every unit's output on disk: `.neodev/logs/<unit>.log`, masked, rotated by size.

The log store (`neodev.engine.logs`) hands each kept line — already masked — to `LogFiles`,
which appends it with its UTC timestamp and stream. Files rotate by size (`<unit>.log.1` …
`.N`), so a chatty unit cannot fill the disk; they are what is left when the daemon's memory
has moved on (`LogStore` keeps only the latest lines per unit).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from neodev.protocol import LogRecord

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_BACKUPS = 3


def format_record(record: LogRecord) -> str:
    """`2026-11-26T22:04:00.123Z stdout | the line` (UTC)."""
    stamp = datetime.fromtimestamp(record.ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return f"{stamp[:-3]}Z {record.stream} | {record.line}"


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


class LogFiles:
    """One rotating file per unit under `directory`, opened on the first line."""

    def __init__(self, directory: Path, max_bytes: int = DEFAULT_MAX_BYTES,
                 backups: int = DEFAULT_BACKUPS) -> None:
        self.directory = Path(directory)
        self._max_bytes = max_bytes
        self._backups = backups
        self._files: dict[str, RotatingFile] = {}

    def write(self, record: LogRecord) -> None:
        file = self._files.get(record.unit)
        if file is None:
            file = RotatingFile(self.directory / f"{record.unit}.log", self._max_bytes,
                                self._backups)
            self._files[record.unit] = file
        try:
            file.write_line(format_record(record))
        except OSError:
            # A full disk must not stop the units or the API; the lines stay in memory.
            file.close()

    def close(self) -> None:
        for file in self._files.values():
            file.close()
