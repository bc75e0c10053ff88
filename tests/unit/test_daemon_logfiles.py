"""Unit log files: masked lines with timestamps, rotated and bounded."""

from __future__ import annotations

from pathlib import Path

from neodev.daemon.logfiles import LogFiles, RotatingFile, format_record
from neodev.protocol import LogRecord


def test_records_are_written_with_their_timestamp_and_stream(tmp_path: Path) -> None:
    files = LogFiles(tmp_path)
    for i in range(3):
        files.write(LogRecord(i + 1, "api", 1767225600.5, "stderr" if i % 2 else "stdout",
                              f"line {i}"))
    files.write(LogRecord(4, "db", 1767225600.5, "stdout", "other unit"))
    files.close()
    assert (tmp_path / "api.log").read_text().splitlines() == [
        "2026-01-01T00:00:00.500Z stdout | line 0",
        "2026-01-01T00:00:00.500Z stderr | line 1",
        "2026-01-01T00:00:00.500Z stdout | line 2"]
    assert (tmp_path / "db.log").read_text() == "2026-01-01T00:00:00.500Z stdout | other unit\n"


def test_file_rotates_and_stays_bounded(tmp_path: Path) -> None:
    f = RotatingFile(tmp_path / "u.log", max_bytes=1000, backups=2)
    for i in range(500):
        f.write_line(format_record(LogRecord(i, "u", 0.0, "stdout",
                                             f"line {i:04d} " + "x" * 40)))
    f.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["u.log", "u.log.1", "u.log.2"]
    assert all(p.stat().st_size <= 1000 for p in tmp_path.iterdir())
    assert "line 0499" in (tmp_path / "u.log").read_text()
