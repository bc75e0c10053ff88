"""Finding the workspace's daemon, and waiting for it to end.

The daemon's lock is the authority (`neodev.rendezvous`): when it can be taken, no daemon
runs, and a leftover socket or status file is stale (a daemon that was SIGKILLed) and is
removed. A short command needs no psutil to know.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from neodev.client.sync import DaemonClient
from neodev.errors import DaemonError
from neodev.paths import WorkspacePaths
from neodev.pidfd import open_pidfd
from neodev.rendezvous import (
    DaemonInfo,
    DaemonLock,
    daemon_alive,
    last_project,
    read_info,
    remove_stale,
)

__all__ = ["find_daemon", "last_project", "log_tail", "running_client", "wait_for_exit"]
from neodev.timing import Deadline


def find_daemon(paths: WorkspacePaths) -> DaemonInfo | None:
    """The running daemon of this workspace, or None (after removing stale leftovers)."""
    info = read_info(paths)
    if info is not None and Path(info.socket).exists() and daemon_alive(paths):
        return info
    if not paths.lock_file.exists():
        # No lock file: no daemon holds it (a daemon takes the lock before it writes anything),
        # so what is left is stale. Probing must not create the file.
        remove_stale(paths)
        return None
    probe = DaemonLock(paths)
    if not probe.try_acquire():
        # Locked: a daemon lives — starting (its socket and status come later) or stopping.
        return info
    try:
        remove_stale(paths)
    finally:
        probe.release()
    return None


def wait_for_exit(info: DaemonInfo, paths: WorkspacePaths | None = None,
                  timeout: float = 60.0) -> bool:
    """Wait until the daemon described by `info` has exited (its lock is free: a zombie
    counts as exited); False if it is still there after `timeout` seconds.

    On Linux the wait sleeps on a pidfd (woken the moment the process ends), elsewhere it
    polls the lock.
    """
    import select

    paths = paths or WorkspacePaths(Path(info.workspace))
    deadline = Deadline(timeout)
    fd = open_pidfd(info.pid)
    try:
        while daemon_alive(paths):
            if deadline.passed:
                return False
            if fd is not None:
                poller = select.poll()
                poller.register(fd, select.POLLIN)
                poller.poll(min(deadline.remaining(), 0.2) * 1000)
            else:
                time.sleep(min(deadline.remaining(), 0.02))
        return True
    finally:
        if fd is not None:
            os.close(fd)


def log_tail(paths: WorkspacePaths, lines: int = 20) -> str:
    """The daemon log's last lines (to explain a daemon that did not come up)."""
    try:
        return "\n".join(paths.daemon_log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def running_client(paths: WorkspacePaths) -> DaemonClient:
    """A client of the workspace's running daemon.

    Raises:
        DaemonError: no daemon runs here (says how to start one).
    """
    info = find_daemon(paths)
    if info is None:
        raise DaemonError(f"no neodev environment is running in {paths.root} "
                          "(start one with `neodev start`)")
    return DaemonClient(Path(info.socket))
