"""Every unit's output on disk: `.neodev/logs/<unit>.log`, masked, rotated by size.

The log store (`neodev.engine.logs`) hands each kept line — already masked — to `LogFiles`,
which appends it with its UTC timestamp and stream. Files rotate by size (`<unit>.log.1` …
`.N`), so a chatty unit cannot fill the disk; they are what is left when the daemon's memory
has moved on (`LogStore` keeps only the latest lines per unit).

Under a flood this is on every line's way. On the event loop, the lines a turn of the loop kept
are written together at its end — formatted in one pass (a chunk of output shares one time
stamp, whose text is made once) and handed to the file in one write(2) — rather than one write
and one flush per line; `tail -f` sees a line as soon as the daemon has handled the chunk it
came in. Without a running loop (tools, tests) each line is written at once.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from neodev.protocol import LogRecord

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_BACKUPS = 3


def format_record(record: LogRecord) -> str:
    """`2026-11-26T22:04:00.123Z stdout | the line` (UTC)."""
    return f"{format_stamp(record.ts)} {record.stream} | {record.line}"


def format_stamp(ts: float) -> str:
    """`2026-11-26T22:04:00.123Z` (UTC, milliseconds)."""
    text = datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return f"{text[:-3]}Z"


class RotatingFile:
    """An append-only UTF-8 text file rotated when it would exceed `max_bytes`."""

    def __init__(self, path: Path, max_bytes: int = DEFAULT_MAX_BYTES,
                 backups: int = DEFAULT_BACKUPS) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self._fh: BinaryIO | None = None
        self._size = 0

    def write_line(self, text: str) -> None:
        self.write_lines([text])

    def write_lines(self, texts: list[str]) -> None:
        """Append lines (without their newline) and flush, so `tail -f` and a crash report see
        them at once: one write(2) for them all, unless the file rotates on the way."""
        data = ("\n".join(texts) + "\n").encode("utf-8")
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "ab")  # noqa: SIM115 - kept open
            self._size = os.fstat(self._fh.fileno()).st_size
        if self._size + len(data) > self.max_bytes and len(texts) > 1:
            for text in texts:  # the rotation falls between two lines
                self.write_lines([text])
            return
        if self._size and self._size + len(data) > self.max_bytes:
            self._rotate()
        assert self._fh is not None
        self._fh.write(data)
        self._fh.flush()
        self._size += len(data)

    def _rotate(self) -> None:
        assert self._fh is not None
        self._fh.close()
        for n in range(self.backups, 0, -1):
            src = self.path if n == 1 else self.path.with_name(f"{self.path.name}.{n - 1}")
            if src.exists():
                src.replace(self.path.with_name(f"{self.path.name}.{n}"))
        if self.backups == 0:
            self.path.unlink(missing_ok=True)
        self._fh = open(self.path, "ab")  # noqa: SIM115 - kept open
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
        self._pending: list[LogRecord] = []
        """Records of this turn of the event loop, written at its end."""

    def write(self, record: LogRecord) -> None:
        pending = self._pending
        pending.append(record)
        if len(pending) == 1:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no event loop: now
                self.flush()

    def flush(self) -> None:
        """Write the pending records to their units' files."""
        records, self._pending = self._pending, []
        texts: dict[str, list[str]] = {}
        ts, stamp, unit, unit_texts = -1.0, "", "", []
        for record in records:  # a chunk's lines share their unit and time: one stamp text
            if record.ts != ts:
                ts, stamp = record.ts, format_stamp(record.ts)
            if record.unit != unit:
                unit = record.unit
                unit_texts = texts.setdefault(unit, [])
            unit_texts.append(f"{stamp} {record.stream} | {record.line}")
        for unit, lines in texts.items():
            file = self._files.get(unit)
            if file is None:
                file = RotatingFile(self.directory / f"{unit}.log", self._max_bytes,
                                    self._backups)
                self._files[unit] = file
            try:
                file.write_lines(lines)
            except OSError:
                # A full disk must not stop the units or the API; the lines stay in memory.
                file.close()

    def close(self) -> None:
        self.flush()
        for file in self._files.values():
            file.close()
