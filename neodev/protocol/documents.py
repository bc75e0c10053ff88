"""The environment as a whole: ping, status, telemetry, the wiring check, a `down` report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from neodev.jsontypes import JsonObject
from neodev.protocol.cluster import ClusterReport, JobRecord
from neodev.protocol.units import UnitRecord

PROTOCOL_VERSION = 1
"""Bumped on any incompatible change of the records (`/v1/ping` reports it)."""

ShipperStateName = Literal["shipping", "behind", "dropping", "down", "idle"]


@dataclass(frozen=True, slots=True)
class PortAssignment:
    """One host port of an instance: the port the profile declares, the one it uses."""

    unit: str
    declared: int
    host: int


@dataclass(frozen=True, slots=True)
class InstanceInfo:
    """Which instance answers (docs/decisions/instances.md): the workspace's environment among
    the others of this machine, and its host ports."""

    name: str = ""
    """The instance's name: its compose project."""
    workspace: str = ""
    profile_ports: bool = True
    """Holds the profile's own host ports (the profile's first instance)."""
    port_block: int | None = None
    """First port of its block otherwise."""
    ports: tuple[PortAssignment, ...] = ()
    """Every declared host port and the one this instance uses for it."""


InstanceState = Literal["running", "stopped", "orphaned"]


@dataclass(frozen=True, slots=True)
class InstanceSummary:
    """One instance of this machine, as `neodev instances` lists it (not a daemon's answer:
    the registry, the engine and the instance's own daemon, put together by the CLI)."""

    name: str
    workspace: str
    state: InstanceState
    """running (its daemon answers), stopped, or orphaned (its workspace, or the workspace's
    record of it, is gone)."""
    profile: str = ""
    profile_ports: bool = True
    port_block: int | None = None
    ports: tuple[PortAssignment, ...] = ()
    """Its host ports (known while it runs)."""
    urls: dict[str, str] = field(default_factory=dict)
    """unit or observability service -> URL (while it runs)."""
    database_bytes: int | None = None
    """Its Postgres servers' databases, snapshots included (while they run)."""
    memory_bytes: int | None = None
    """Its daemon's process tree plus its running containers."""
    daemon_pid: int | None = None
    """The daemon that runs it, also when nobody can reach it any more (orphaned)."""
    containers: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    """What carries its labels on the engine."""


@dataclass(frozen=True, slots=True)
class Ping:
    """`GET /v1/ping`: who answers — the daemon's protocol, instance, profile and workspace."""

    protocol: int
    version: str
    instance: str
    profile: str
    project: str
    workspace: str
    pid: int
    started_at: float = 0.0
    warnings: tuple[str, ...] = ()
    instance_info: InstanceInfo = field(default_factory=InstanceInfo)
    """Which instance (name, ports); `instance` is this daemon run's id."""


@dataclass(frozen=True, slots=True)
class ShipperState:
    """A snapshot of the Loki shipper, for status output and the dashboard."""

    state: ShipperStateName
    """down (Loki unreachable or answering 5xx now) > dropping (lines dropped in the last
    `DROP_RECENT` s) > behind (more than one batch queued) > shipping > idle."""
    queued: int
    """Lines waiting (including the batch in flight)."""
    behind: int
    """Lines queued beyond one batch."""
    dropped: int
    """Lines dropped (oldest first) because the queue was full."""
    rejected: int
    """Lines Loki refused for good (4xx), never retried."""
    last_rejection: str | None
    """Loki's reason for the last refusal (`HTTP 400: ...`)."""
    sent: int
    """Lines Loki accepted."""
    last_error: str | None
    """The last retryable failure (connection error, 429, 5xx), kept after recovery."""


@dataclass(frozen=True, slots=True)
class Telemetry:
    """The observability side of the status: URLs, Explore links, the shipper, the targets."""

    urls: dict[str, str | None] = field(default_factory=dict)
    """grafana, prometheus, loki -> URL (None when the profile has no such service)."""
    logs: dict[str, str | None] = field(default_factory=dict)
    """unit -> Grafana Explore link on its lines."""
    shipper: ShipperState | None = None
    targets: tuple[str, ...] = ()
    """Units Prometheus scrapes now."""
    targets_error: str | None = None


@dataclass(frozen=True, slots=True)
class Status:
    """`GET /v1/status`; `units` at `seq` equals the fold of the event stream up to `seq`."""

    protocol: int
    instance: str
    seq: int
    profile: str
    project: str
    workspace: str
    units: tuple[UnitRecord, ...] = ()
    reaped_orphans: tuple[str, ...] = ()
    clusters: dict[str, ClusterReport] = field(default_factory=dict)
    """profile -> the latest report of its kind mirror."""
    telemetry: Telemetry = field(default_factory=Telemetry)
    volumes: tuple[str, ...] = ()
    jobs: tuple[JobRecord, ...] = ()
    """Jobs running now."""
    instance_info: InstanceInfo = field(default_factory=InstanceInfo)
    """Which instance (name, ports); `instance` is this daemon run's id."""

    def unit(self, name: str) -> UnitRecord | None:
        return next((u for u in self.units if u.name == name), None)


@dataclass(frozen=True, slots=True)
class WiringCheck:
    """One piece of the observability wiring: ok | warn | fail, with what was found."""

    name: str
    status: Literal["ok", "warn", "fail"]
    detail: str


@dataclass(frozen=True, slots=True)
class Wiring:
    """`GET /v1/wiring`."""

    checks: tuple[WiringCheck, ...] = ()


@dataclass(frozen=True, slots=True)
class DownReport:
    """What `down` removed, by name."""

    containers: tuple[str, ...] = ()
    network: str | None = None
    volumes: tuple[str, ...] = ()
    """Deleted volumes; always empty unless `down(remove_volumes=True)`."""
    problems: tuple[str, ...] = ()
    """Things that could not be removed, with the engine's reason."""
    left_alone: tuple[str, ...] = ()
    """Objects with the instance's names that are not its own (another workspace's, or
    unlabelled), named and not deleted."""


@dataclass(frozen=True, slots=True)
class ContainerView:
    """The engine's view of one container of the project (`docker inspect`), secrets masked."""

    name: str
    unit: str | None = None
    """The compose service it runs, when it carries the label."""
    inspect: JsonObject = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Diagnostics:
    """`GET /v1/diagnostics`: what only the daemon can tell a report, every secret masked."""

    config: JsonObject = field(default_factory=dict)
    """The plan the daemon runs, as `neodev config --json` shows it."""
    containers: tuple[ContainerView, ...] = ()
    engine_error: str | None = None
    """Why the engine could not be asked about the containers (None: it answered, or the
    profile has no containers)."""
    daemon_log: tuple[str, ...] = ()
    """The daemon's own log, its last lines."""
    daemon_log_cut: int = 0
    """Bytes of the daemon's log before those lines, not included."""
