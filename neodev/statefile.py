"""State files: the one way neodev writes them, reads them back, and locks them.

Everything neodev keeps under `.neodev/` (daemon status, pid records, generated secrets, cluster
renders, Prometheus target files, the config cache) goes through `write_private`: the content is
written to a temporary file in the same directory, flushed to disk and renamed over the old
file, so a crash mid-write leaves the previous version intact and a reader never sees half a
file. The temporary file is created with mode 0600 (never chmod-ed afterwards), so a secret is
never readable by others, not even for an instant.

`read_state` is the matching reader: a state file that is missing, unreadable or not a JSON
object is simply no state (the next write replaces it). `lock` takes an exclusive `flock`
within a time limit, for state that several processes change (the daemon's lock, the pytest
plugin's run state).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path

from neodev.jsontypes import JsonObject
from neodev.timing import poll_until

PRIVATE_MODE = 0o600
LOCK_POLL = 0.02
"""Seconds between attempts to take a lock another process holds."""


def write_private(path: Path, content: str | bytes, *, mode: int = PRIVATE_MODE) -> None:
    """Atomically replace `path` with `content`.

    Args:
        path: The file to write; its directory is created (0700) when missing.
        content: Text (written as UTF-8) or bytes.
        mode: File mode of the result (0600 unless a reader in a container needs more, e.g.
            Prometheus target files read by another user).

    Raises:
        OSError: the directory or the file cannot be written.
    """
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    import tempfile  # here: the short commands read state, and tempfile costs them ~4 ms

    # mkstemp creates the file 0600 in the same directory: the rename stays on one filesystem.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode != PRIVATE_MODE:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_state(path: Path) -> JsonObject | None:
    """The JSON object in `path`; None when it is missing, unreadable or not an object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def lock(fd: int, timeout: float) -> bool:
    """Take an exclusive `flock` on `fd`, waiting up to `timeout` seconds for its holder.

    The kernel releases the lock when the holder closes the file or dies, so a crashed holder
    never blocks anyone. Release it with `fcntl.flock(fd, fcntl.LOCK_UN)` or by closing `fd`.

    Args:
        fd: An open file descriptor of the lock file.
        timeout: Seconds to wait (0: one attempt).

    Returns:
        True when taken; False when another holder kept it all that time.
    """
    def taken() -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    return poll_until(taken, timeout, LOCK_POLL)
