"""The machine's registry of instances, and a workspace's own record of which instance it is.

One JSON file per instance under `$XDG_STATE_HOME/neodev/instances/` (default
`~/.local/state/neodev/instances/`; `NEODEV_STATE_HOME` replaces `$XDG_STATE_HOME/neodev`, so
tests never see a developer's instances nor each other's). Every change happens under one
`flock` on `.lock` in that directory, taken within a deadline (`neodev.statefile.lock`), so two
checkouts starting at the same moment never choose the same name or the same ports. The
workspace keeps the same record in `.neodev/instance.json`: its name is then stable even when
the registry is lost, and the registry can be rebuilt from the workspaces.

A record whose workspace no longer exists is *orphaned*: `neodev instances` shows it, `neodev
instances prune` removes it with what it left on the engine.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

from neodev.errors import InstanceError
from neodev.instances.naming import is_valid
from neodev.paths import WorkspacePaths
from neodev.rendezvous import daemon_alive
from neodev.statefile import lock, read_state, write_private

STATE_HOME_VARIABLE = "NEODEV_STATE_HOME"
LOCK_TIMEOUT = 10.0
"""Seconds to wait for another neodev changing the registry (it holds it for milliseconds)."""


@dataclass(frozen=True)
class InstanceRecord:
    """One instance: the registry's file and the workspace's `.neodev/instance.json`."""

    name: str
    """The instance's name: its compose project (containers `<name>-<service>-1`)."""
    workspace: str
    """The workspace's real path."""
    profile: str = "local"
    """The profile it last ran."""
    profile_project: str = ""
    """The project name the profile gives: instances with the same one are of one profile."""
    profile_ports: bool = True
    """Holds the profile's own host ports (the profile's first instance)."""
    port_block: int | None = None
    """First port of its block when it does not hold the profile's ports (None until the
    daemon allocated it)."""
    port_count: int = 0
    """Ports of the block in use (the profile's distinct declared host ports)."""
    created: float = 0.0
    legacy_project: str | None = None
    """The project this workspace ran before it was an instance (`.neodev/project`): its
    unlabelled volumes of that project are its own."""
    daemon_pid: int | None = None
    daemon_started: float | None = None
    """pid and process create time of the daemon that runs it now (a reused pid is told
    apart by the create time); None when none runs."""

    @property
    def exists(self) -> bool:
        """Whether its workspace still exists (False: orphaned)."""
        return Path(self.workspace).is_dir()

    @property
    def ports(self) -> range | None:
        """The block's ports in use, None with the profile's own ports."""
        if self.port_block is None:
            return None
        return range(self.port_block, self.port_block + self.port_count)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_data(cls, data: Mapping[str, Any] | None) -> InstanceRecord | None:
        """A record from its JSON form; None when it is not one (another version, damage)."""
        if data is None:
            return None
        known = {f.name for f in fields(cls)}
        try:
            record = cls(**{k: v for k, v in data.items() if k in known})
        except TypeError:
            return None
        return record if isinstance(record.name, str) and is_valid(record.name) else None


def state_home(environ: Mapping[str, str] | None = None) -> Path:
    """Where neodev keeps machine state: `$NEODEV_STATE_HOME`, else `$XDG_STATE_HOME/neodev`,
    else `~/.local/state/neodev` (the XDG base directory rules: a relative value is ignored).
    Each variable is taken from `environ`, else from the process environment (a configuration
    loaded with a narrowed environment still uses this machine's registry)."""
    env = os.environ if environ is None else environ
    chosen = env.get(STATE_HOME_VARIABLE) or os.environ.get(STATE_HOME_VARIABLE)
    if chosen:
        return Path(chosen)
    xdg = env.get("XDG_STATE_HOME") or os.environ.get("XDG_STATE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "state"
    return base / "neodev"


class Registry:
    """The instances of this machine: one file each, changed under one lock."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @classmethod
    def of_machine(cls, environ: Mapping[str, str] | None = None) -> Registry:
        return cls(state_home(environ) / "instances")

    @contextlib.contextmanager
    def locked(self, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
        """Hold the registry's lock (every change happens under it).

        Raises:
            InstanceError: another neodev held it for `timeout` seconds, or the directory
                cannot be created.
        """
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            handle = open(self.directory / ".lock", "a+")  # noqa: SIM115 — closed below
        except OSError as exc:
            raise InstanceError(f"cannot use the registry of instances in {self.directory}: "
                                f"{exc.strerror or exc}") from exc
        try:
            if not lock(handle.fileno(), timeout):
                raise InstanceError(f"the registry of instances ({self.directory}) stayed "
                                    f"locked for {timeout:.0f} s by another neodev")
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()

    def entries(self) -> list[InstanceRecord]:
        """Every registered instance, by name."""
        found = []
        for path in sorted(self.directory.glob("*.json")):
            record = InstanceRecord.from_data(read_state(path))
            if record is not None and path.stem == record.name:
                found.append(record)
        return found

    def get(self, name: str) -> InstanceRecord | None:
        if not is_valid(name):
            return None
        return InstanceRecord.from_data(read_state(self.directory / f"{name}.json"))

    def put(self, record: InstanceRecord) -> None:
        """Register (or update) `record`; any other entry of its workspace goes (a workspace
        is one instance). Call holding the lock."""
        for other in self.entries():
            if other.workspace == record.workspace and other.name != record.name:
                self.remove(other.name)
        write_private(self.directory / f"{record.name}.json", record.to_json())

    def remove(self, name: str) -> None:
        (self.directory / f"{name}.json").unlink(missing_ok=True)

    def update_daemon(self, name: str, workspace: str, pid: int | None,
                      started: float | None) -> None:
        """Say which daemon runs the instance now (None: none). Takes the lock; an instance
        that is not registered, or registered for another workspace, is left alone."""
        with self.locked():
            record = self.get(name)
            if record is not None and record.workspace == workspace:
                self.put(replace(record, daemon_pid=pid, daemon_started=started))


def read_instance(paths: WorkspacePaths) -> InstanceRecord | None:
    """The workspace's record of its instance — None when it has none, or when the record is
    another workspace's (`.neodev/` copied along with a checkout: `cp -r a b`)."""
    record = InstanceRecord.from_data(read_state(paths.instance_file))
    if record is None or record.workspace != real_path(paths):
        return None
    return record


def write_instance(paths: WorkspacePaths, record: InstanceRecord) -> None:
    paths.ensure_state_dir()
    write_private(paths.instance_file, record.to_json())


def identity_stamp(paths: WorkspacePaths, environ: Mapping[str, str] | None = None
                   ) -> list[object]:
    """What the workspace's instance depends on, cheaply: its record, and the registry's
    files by name and modification time (a stored `neodev config` answer holds while these
    do)."""
    try:
        own = paths.instance_file.read_text(encoding="utf-8")
    except OSError:
        own = ""
    directory = Registry.of_machine(environ).directory
    try:
        listing = sorted((p.name, p.stat().st_mtime_ns) for p in directory.glob("*.json"))
    except OSError:
        listing = []
    return [own, listing]


def state_of(record: InstanceRecord) -> Literal["running", "stopped", "orphaned"]:
    """orphaned (its workspace, or the workspace's record naming it, is gone), running (a
    daemon holds the workspace's lock) or stopped."""
    paths = WorkspacePaths(Path(record.workspace))
    own = read_instance(paths) if record.exists else None
    if own is None or own.name != record.name:
        return "orphaned"
    return "running" if daemon_alive(paths) else "stopped"


def real_path(paths: WorkspacePaths) -> str:
    """The workspace's real path: what tells two workspaces apart, and what labels carry."""
    return os.path.realpath(paths.root)
