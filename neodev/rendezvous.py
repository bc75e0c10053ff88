"""Where a workspace's daemon and its clients meet: the lock, the status file, a startup error.

The daemon holds an exclusive `flock` on `.neodev/daemon.lock` for its whole life and writes
`.neodev/daemon.json` (pid, process create time, socket, profile). The lock is the authority:
the kernel releases it the moment the process dies (even while it is still a zombie), and a
reused pid can never hold it. A daemon that cannot start records why in
`.neodev/startup-error.json`, for the command that spawned it to report. Both sides — the
server (`neodev.daemon`) and the clients (`neodev.client`) — read and write these through this
module only.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from neodev.errors import NeodevError, error_from_dict
from neodev.paths import WorkspacePaths
from neodev.statefile import lock, read_state, write_private


@dataclass(frozen=True)
class DaemonInfo:
    """The content of `.neodev/daemon.json`."""

    pid: int
    create_time: float
    socket: str
    profile: str
    workspace: str
    started_at: float
    version: str
    instance: str = ""
    """The instance it runs (its compose project); empty from an older neodev."""


class DaemonLock:
    """The exclusive lock a running daemon holds; released when its process ends."""

    def __init__(self, paths: WorkspacePaths) -> None:
        self._paths = paths
        self._file: IO[str] | None = None

    def try_acquire(self) -> bool:
        return self.acquire(0)

    def acquire(self, timeout: float) -> bool:
        """Take the lock, waiting up to `timeout` seconds (a client may be probing it now)."""
        self._paths.ensure_state_dir()
        handle = open(self._paths.lock_file, "a+")  # noqa: SIM115 — held for the daemon's life
        if not lock(handle.fileno(), timeout):
            handle.close()
            return False
        self._file = handle
        return True

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def daemon_alive(paths: WorkspacePaths) -> bool:
    """Whether a daemon holds the workspace's lock (runs, or is starting or stopping)."""
    if not paths.lock_file.exists():
        return False
    try:
        with open(paths.lock_file) as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    except OSError:
        return False
    return False


def write_info(paths: WorkspacePaths, info: DaemonInfo) -> None:
    """Atomically write the status file (0600)."""
    write_private(paths.status_file, json.dumps(asdict(info)))


def read_info(paths: WorkspacePaths) -> DaemonInfo | None:
    data = read_state(paths.status_file)
    try:
        return None if data is None else DaemonInfo(**data)
    except TypeError:  # written by another version of neodev
        return None


def remove_stale(paths: WorkspacePaths) -> list[str]:
    """Remove the socket and status file of a daemon that is gone. Call only holding the lock.

    The socket is the one the status file names (a deep workspace's lives in the runtime
    directory of the daemon's environment, which may not be this process's) and the one this
    process would bind."""
    info = read_info(paths)
    sockets = {paths.socket} | ({Path(info.socket)} if info is not None else set())
    removed = []
    for path in (*sorted(sockets), paths.status_file):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path.name)
    return removed


def last_project(paths: WorkspacePaths) -> str | None:
    """The compose project the last daemon of this workspace ran (`.neodev/project`), if any."""
    try:
        name = paths.project_file.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return name or None


def record_startup_error(paths: WorkspacePaths, error: NeodevError) -> None:
    """The daemon could not start: say why, for the command that spawned it."""
    write_private(paths.startup_error_file, json.dumps(error.to_dict()))


def take_startup_error(paths: WorkspacePaths) -> NeodevError | None:
    """The error a daemon recorded when it could not start (read once, then removed)."""
    data = read_state(paths.startup_error_file)
    paths.startup_error_file.unlink(missing_ok=True)
    return None if data is None else error_from_dict(data)
