"""Unit log: sink + ring + rotating file, timestamps."""

from __future__ import annotations

from pathlib import Path

from neodev.process.logs import LogEntry, RotatingFile, UnitLog


def test_emit_fans_out_with_timestamps(tmp_path: Path) -> None:
    got: list[tuple[str, str, float]] = []
    log = UnitLog(lambda line, stream, ts: got.append((line, stream, ts)),
                  RotatingFile(tmp_path / "u.log"), ring_lines=3, clock=lambda: 1767225600.5)
    for i in range(5):
        log.emit(f"line {i}", "stderr" if i % 2 else "stdout")
    log.close()
    assert got[0] == ("line 0", "stdout", 1767225600.5)
    assert log.recent(10) == [f"2026-01-01T00:00:00.500Z {s} | line {i}"
                              for i, s in [(2, "stdout"), (3, "stderr"), (4, "stdout")]]
    assert log.recent(1) == ["2026-01-01T00:00:00.500Z stdout | line 4"]
    assert (tmp_path / "u.log").read_text().splitlines()[0] == \
        "2026-01-01T00:00:00.500Z stdout | line 0"


def test_file_rotates_and_stays_bounded(tmp_path: Path) -> None:
    f = RotatingFile(tmp_path / "u.log", max_bytes=1000, backups=2)
    for i in range(500):
        f.write_line(LogEntry(0.0, "stdout", f"line {i:04d} " + "x" * 40).format())
    f.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["u.log", "u.log.1", "u.log.2"]
    assert all(p.stat().st_size <= 1000 for p in tmp_path.iterdir())
    assert "line 0499" in (tmp_path / "u.log").read_text()
