"""neodev.statefile: the one writer (atomic, 0600), the tolerant reader, the lock with a limit."""

from __future__ import annotations

import fcntl
import stat
import time
from pathlib import Path

from neodev.statefile import lock, read_state, write_private


def test_write_private_is_0600_in_a_0700_directory_and_replaces_atomically(
        tmp_path: Path) -> None:
    path = tmp_path / "state" / "daemon.json"
    write_private(path, '{"pid": 1}')
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    write_private(path, b'{"pid": 2}')
    assert read_state(path) == {"pid": 2}
    assert [p.name for p in path.parent.iterdir()] == ["daemon.json"]  # no temporary left


def test_read_state_takes_a_missing_broken_or_non_object_file_as_no_state(
        tmp_path: Path) -> None:
    path = tmp_path / "pids.json"
    assert read_state(path) is None
    path.write_text('{"backend": ')
    assert read_state(path) is None
    path.write_text("[1, 2]")
    assert read_state(path) is None
    path.write_bytes(b"\xff\xfe")
    assert read_state(path) is None
    path.write_text('{"backend": {"pid": 7}}')
    assert read_state(path) == {"backend": {"pid": 7}}


def test_lock_waits_for_the_holder_at_most_the_timeout(tmp_path: Path) -> None:
    lock_file = tmp_path / "lock"
    with open(lock_file, "a+b") as holder, open(lock_file, "a+b") as other:
        assert lock(holder.fileno(), 0)
        started = time.monotonic()
        assert not lock(other.fileno(), 0.2)
        assert 0.2 <= time.monotonic() - started < 1.0
        fcntl.flock(holder.fileno(), fcntl.LOCK_UN)
        assert lock(other.fileno(), 0)  # free again: taken at the first attempt
