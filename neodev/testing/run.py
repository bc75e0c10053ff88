"""One test run's identity and the state its processes share (pytest-xdist workers included).

A run is owned by one process: plain pytest, or the xdist controller, which hands the run to
its workers through `workerinput`. Everything the plugin creates is labelled with the run's
session id and the owner's pid + create time: while the owner lives the resources are in use;
once it is gone (finished, crashed, killed) they are leftovers for the next run's janitor.

The workers of a run share one set of containers. They coordinate through a small JSON state
file in a private temporary directory keyed by the session id, read and written under an
exclusive `fcntl.flock` (no extra dependency): the first worker that needs a service starts
it and records its container and ports; the others wait for the lock and read them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import socket
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from neodev.docker.labels import pytest_labels
from neodev.errors import RunLockTimeout
from neodev.jsontypes import JsonObject
from neodev.statefile import lock, read_state, write_private

RUN_DIR_PREFIX = "neodev-pytest-"


@dataclass(frozen=True)
class RunInfo:
    """Who owns a test run, and where its shared state lives."""

    session: str
    """12 hex digits, shared by every process of the run."""
    owner_pid: int
    owner_started: float
    """psutil create time of the owner (with the pid: the owner's identity)."""
    owner_host: str
    """Host name of the owner: pids are only judged on the machine they belong to."""
    directory: str
    """Private temporary directory of the run (lock and state file)."""
    worker: str | None = None
    """The xdist worker id (`gw0`...) of this process; None outside xdist."""

    @classmethod
    def new(cls) -> RunInfo:
        """A run owned by the current process (nothing is created on disk yet)."""
        me = psutil.Process()
        session = uuid.uuid4().hex[:12]
        return cls(session=session, owner_pid=me.pid, owner_started=me.create_time(),
                   owner_host=socket.gethostname(),
                   directory=str(Path(tempfile.gettempdir()) / f"{RUN_DIR_PREFIX}{session}"))

    def for_worker(self, worker: str) -> RunInfo:
        """The same run, as seen from an xdist worker."""
        return RunInfo(**{**asdict(self), "worker": worker})

    def to_dict(self) -> JsonObject:
        """JSON-able form (for xdist's workerinput)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: JsonObject) -> RunInfo:
        return cls(**data)

    @property
    def labels(self) -> dict[str, str]:
        """The labels of everything this run creates."""
        return pytest_labels(self.session, self.owner_pid, self.owner_started, self.owner_host)

    @property
    def is_owner(self) -> bool:
        """True in the process that ends the run (not an xdist worker)."""
        return self.worker is None

    @property
    def state(self) -> RunState:
        return RunState(Path(self.directory))


class RunState:
    """The run's shared JSON state, changed only under an exclusive lock.

    Args:
        directory: the run directory (created 0700 on first use).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._held: JsonObject | None = None

    @property
    def file(self) -> Path:
        return self.directory / "state.json"

    def exists(self) -> bool:
        """True once any process of the run has used the shared state."""
        return self.file.exists()

    @contextlib.contextmanager
    def locked(self, timeout: float, waiting_for: str) -> Iterator[JsonObject]:
        """Hold the run lock; yields the state dict, written back when the block ends.

        Re-entrant within one process (a nested call yields the same dict).

        Args:
            timeout: seconds to wait for another process holding the lock.
            waiting_for: what the lock is taken for, for the timeout message.

        Raises:
            RunLockTimeout: another process held the lock for longer than `timeout`.
        """
        if self._held is not None:
            yield self._held
            return
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(self.directory / "lock", "a+b") as handle:
            if not lock(handle.fileno(), timeout):
                raise RunLockTimeout(
                    f"another pytest process of this run held {self.directory / 'lock'} for "
                    f"more than {timeout:g} s while this one waited to {waiting_for}")
            try:
                self._held = self.read()
                try:
                    yield self._held
                finally:
                    # Written even when the block failed: it may have recorded the failure.
                    write_private(self.file, json.dumps(self._held, indent=1, sort_keys=True))
            finally:
                self._held = None
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def read(self) -> JsonObject:
        """A snapshot of the state without the lock (for the owner, once workers are gone)."""
        return read_state(self.file) or {}


def stale_run_directories(alive: Callable[[int, float], bool]) -> list[Path]:
    """Run directories in the temp dir whose owner is gone (for the janitor).

    Args:
        alive: `(pid, create_time) -> bool`, e.g. `neodev.process.tree.is_alive`.
    """
    stale = []
    for directory in Path(tempfile.gettempdir()).glob(f"{RUN_DIR_PREFIX}*"):
        owner = RunState(directory).read().get("owner") or {}
        try:
            pid, started = int(owner["pid"]), float(owner["started"])
        except (KeyError, TypeError, ValueError):
            continue  # not written yet (or not ours): leave it
        if owner.get("host") == socket.gethostname() and not alive(pid, started):
            stale.append(directory)
    return stale


def record_owner(state: JsonObject, run: RunInfo) -> None:
    """Put the owner's identity into the state (so a stale directory can be recognised)."""
    state.setdefault("owner", {"pid": run.owner_pid, "started": run.owner_started,
                               "host": run.owner_host, "session": run.session})


def worker_suffix(run: RunInfo) -> str:
    """`_gw0` under xdist, else empty: what makes per-worker names unique."""
    return f"_{run.worker}" if run.worker else ""

