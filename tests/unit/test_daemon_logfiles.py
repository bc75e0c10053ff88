"""Unit log files: masked lines with timestamps, rotated and bounded."""

from __future__ import annotations

import asyncio
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


def test_on_an_event_loop_a_turn_s_lines_are_written_together_at_its_end(
        tmp_path: Path) -> None:
    async def run() -> None:
        files = LogFiles(tmp_path)
        for i in range(3):
            files.write(LogRecord(i + 1, "api", 1767225600.5, "stdout", f"line {i}"))
        assert not (tmp_path / "api.log").exists()  # not yet: the turn is not over
        await asyncio.sleep(0)
        assert (tmp_path / "api.log").read_text().splitlines() == [
            f"2026-01-01T00:00:00.500Z stdout | line {i}" for i in range(3)]
        files.write(LogRecord(4, "api", 1767225601.25, "stderr", "last"))
        files.close()  # what is pending is written on close
        assert (tmp_path / "api.log").read_text().splitlines()[-1] == \
            "2026-01-01T00:00:01.250Z stderr | last"
    asyncio.run(run())


def test_a_batch_rotates_between_two_lines(tmp_path: Path) -> None:
    f = RotatingFile(tmp_path / "u.log", max_bytes=100, backups=1)
    f.write_lines(["a" * 59, "b" * 59])  # 120 bytes with newlines: one line per file
    f.close()
    assert (tmp_path / "u.log.1").read_text() == "a" * 59 + "\n"
    assert (tmp_path / "u.log").read_text() == "b" * 59 + "\n"
