"""Finding, starting and cleaning up the one daemon of a workspace.

The daemon holds an exclusive `flock` on `.neodev/daemon.lock` for its whole life, and writes
`.neodev/daemon.json` (pid, process create time, socket, profile). The lock is the authority:
if it can be taken, no daemon runs, and a leftover socket or status file is stale (a daemon that
was SIGKILLed) and is removed. A pid is trusted only together with its create time, so a reused
pid is never mistaken for our daemon.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from neodev.errors import DaemonError, error_from_dict
from neodev.paths import WorkspacePaths
from neodev.pidfd import open_pidfd

if TYPE_CHECKING:
    import subprocess

# `subprocess`, `select` and the state-file writer are imported where they are used: the
# short commands (status, logs, stop) only find the daemon and talk to it.

SPAWN_TIMEOUT = 60.0
"""Seconds a fresh daemon may take to load the plan and answer on its socket."""


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



class DaemonLock:
    """The exclusive lock a running daemon holds; released when its process ends.

    The lock is the authority on whether a daemon lives: the kernel releases it the moment the
    process dies (even while it is still a zombie), and a reused pid can never hold it.
    """

    def __init__(self, paths: WorkspacePaths) -> None:
        self._paths = paths
        self._file: IO[str] | None = None

    def try_acquire(self) -> bool:
        self._paths.ensure_state_dir()
        handle = open(self._paths.lock_file, "a+")  # noqa: SIM115 — held for the daemon's life
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

    def acquire(self, timeout: float) -> bool:
        """`try_acquire` for up to `timeout` seconds (a client may be probing it right now)."""
        deadline = time.monotonic() + timeout
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def write_info(paths: WorkspacePaths, info: DaemonInfo) -> None:
    """Atomically write the status file (0600)."""
    from neodev.statefile import write_private

    write_private(paths.status_file, json.dumps(asdict(info)))


def read_info(paths: WorkspacePaths) -> DaemonInfo | None:
    try:
        data = json.loads(paths.status_file.read_text())
        return DaemonInfo(**data)
    except (OSError, ValueError, TypeError):
        return None


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


def remove_stale(paths: WorkspacePaths) -> list[str]:
    """Remove the socket and status file of a daemon that is gone. Call only holding the lock."""
    removed = []
    for path in (paths.socket, paths.status_file):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path.name)
    return removed


def spawn_daemon(paths: WorkspacePaths, profile: str, environ: dict[str, str] | None = None,
                 plan_on_stdin: bool = False, teardown: str | None = None
                 ) -> subprocess.Popen[bytes]:
    """Start `python -m neodev.daemon` detached (own session, output to .neodev/daemon.log).

    Args:
        paths: The workspace.
        profile: The profile name (for the status file, and to load when no plan is given).
        environ: The daemon's environment (default: ours).
        plan_on_stdin: The caller validates the profile while the daemon imports its modules,
            then writes the plan (JSON) to the child's stdin (`hand_over_plan`) — the plan
            holds secrets: a pipe never leaves them in a file — or kills the child when the
            profile is invalid (`abandon`). Until its plan arrives the daemon touches nothing
            in the workspace: its output goes to a pipe `wait_for_daemon` reads if it dies
            that early, then to its log.
        teardown: A compose project to tear down without any profile (`down` when the
            configuration no longer loads).
    """
    import subprocess

    extra = ["--plan-on-stdin"] if plan_on_stdin else []
    if teardown is not None:
        extra += ["--teardown", teardown]
    command = [sys.executable, "-m", "neodev.daemon", "--workspace", str(paths.root),
               "--profile", profile, *extra]
    environment = environ if environ is not None else dict(os.environ)
    if plan_on_stdin:
        child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, start_new_session=True,
                                 env=environment, cwd=paths.root)
    else:
        paths.ensure_state_dir()
        with open(paths.daemon_log, "ab") as log:  # the child has its own copy of the fd
            child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     env=environment, cwd=paths.root)
    _reap_when_it_exits(child)
    return child


def hand_over_plan(child: subprocess.Popen[bytes], plan_json: str) -> None:
    """Give a daemon spawned with `plan_on_stdin` its plan.

    A daemon that already ended has closed its end: that is not an error here —
    `wait_for_daemon` reports why it ended.
    """
    assert child.stdin is not None
    with contextlib.suppress(BrokenPipeError):
        child.stdin.write(plan_json.encode())
    with contextlib.suppress(BrokenPipeError):
        child.stdin.close()


def abandon(child: subprocess.Popen[bytes]) -> None:
    """End a daemon spawned with `plan_on_stdin` that will get no plan. It has done nothing
    but import modules, so killing it is safe, and waiting for it leaves no zombie."""
    child.kill()
    child.wait()
    for pipe in (child.stdin, child.stdout):
        if pipe is not None:
            with contextlib.suppress(BrokenPipeError):
                pipe.close()


def _reap_when_it_exits(child: subprocess.Popen[bytes]) -> None:
    """Collect the daemon's exit status whenever it comes.

    The daemon outlives a CLI command (it is then re-parented to init), but not always a
    long-lived caller such as the dashboard: without a waiter it would linger as a zombie
    there after `down`, and Python would warn that it is still running.
    """
    import threading

    threading.Thread(target=child.wait, name="neodev-daemon-reaper", daemon=True).start()


def last_project(paths: WorkspacePaths) -> str | None:
    """The compose project the last daemon of this workspace ran, if it said."""
    try:
        name = paths.project_file.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return name or None


def wait_for_daemon(paths: WorkspacePaths, child: subprocess.Popen[bytes],
                    timeout: float = SPAWN_TIMEOUT) -> DaemonInfo:
    """Wait until the spawned daemon answers, or explain why it did not.

    Raises:
        NeodevError: the daemon's own startup error (e.g. a ConfigError), when it reported one.
        DaemonError: the daemon exited or did not answer in time.
    """
    try:
        return _wait_for_answer(paths, child, timeout)
    finally:
        if child.stdout is not None:
            child.stdout.close()  # a daemon that answers writes to its log by now


def _wait_for_answer(paths: WorkspacePaths, child: subprocess.Popen[bytes], timeout: float
                     ) -> DaemonInfo:
    from neodev.daemon.client import DaemonClient

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = child.poll()
        if code is not None:
            early = _early_output(child)
            raise startup_error(paths) or DaemonError(
                f"the daemon exited with code {code} while starting"
                + (f":\n{early}" if early else f"; see {paths.daemon_log}:\n{log_tail(paths)}"))
        info = read_info(paths)
        if info is not None and info.pid == child.pid and Path(info.socket).exists():
            with contextlib.suppress(DaemonError):
                DaemonClient(Path(info.socket)).ping()
                return info
        # Short: on a cold start the daemon is the critical path and the command waits on
        # it; a poll (a small file read, one connect) is cheap next to that.
        time.sleep(0.01)
    raise DaemonError(f"the daemon did not answer within {timeout:.0f}s; see {paths.daemon_log}")


def _early_output(child: subprocess.Popen[bytes], limit: int = 8192) -> str:
    """What a daemon spawned with `plan_on_stdin` printed before it had its log (it ended)."""
    if child.stdout is None:
        return ""
    data = child.stdout.read()[-limit:]
    return data.decode("utf-8", "replace").strip()


def wait_for_exit(info: DaemonInfo, paths: WorkspacePaths | None = None,
                  timeout: float = 60.0) -> bool:
    """Wait until the daemon described by `info` has exited (its lock is free: a zombie
    counts as exited); False if it is still there after `timeout` seconds.

    On Linux the wait sleeps on a pidfd (woken the moment the process ends), elsewhere it
    polls the lock.
    """
    import select

    paths = paths or WorkspacePaths(Path(info.workspace))
    deadline = time.monotonic() + timeout
    fd = open_pidfd(info.pid)
    try:
        while daemon_alive(paths):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if fd is not None:
                poller = select.poll()
                poller.register(fd, select.POLLIN)
                poller.poll(min(remaining, 0.2) * 1000)
            else:
                time.sleep(min(remaining, 0.02))
        return True
    finally:
        if fd is not None:
            os.close(fd)


def startup_error_file(paths: WorkspacePaths) -> Path:
    return paths.state_dir / "startup-error.json"


def record_startup_error(paths: WorkspacePaths, error: dict[str, object]) -> None:
    startup_error_file(paths).write_text(json.dumps(error))


def startup_error(paths: WorkspacePaths) -> Exception | None:
    path = startup_error_file(paths)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    path.unlink(missing_ok=True)
    return error_from_dict(data)


def log_tail(paths: WorkspacePaths, lines: int = 20) -> str:
    try:
        return "\n".join(paths.daemon_log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
