"""A unit's records: its status, its latest reload, a wait's verdicts and its details."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from neodev.jsontypes import JsonObject


class UnitState(StrEnum):
    PENDING = "pending"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    EXITED = "exited"
    CRASHED = "crashed"
    BACKOFF = "backoff"
    UNAVAILABLE = "unavailable"
    """The unit cannot start until something outside neodev changes (its image cannot be
    had): said once, tried again when asked or when that changes, never in a restart loop."""


class Health(StrEnum):
    NONE = "none"
    """The unit has no readiness check."""
    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True, slots=True)
class ReloadRecord:
    """The outcome of a unit's latest hot reload."""

    outcome: str
    """ok | build_failed | failed (restarted but not ready)."""
    cause: str
    """The changed files, shortened: `src/a.kt, src/b.kt and 3 more`."""
    files: tuple[str, ...] = ()
    duration: float | None = None
    """Seconds from the file event to ready (ok), or the build's duration (build_failed)."""
    detail: str = ""
    at: float = 0.0
    """Wall-clock time the reload ended."""


@dataclass(frozen=True, slots=True)
class UnitRecord:
    """One unit's status, as `neodev status` prints it and the dashboard shows it."""

    name: str
    kind: str
    state: UnitState = UnitState.PENDING
    health: Health = Health.NONE
    ready: bool = False
    """Running and healthy (or, without a readiness check, up for its settle time)."""
    reason: str = ""
    """Why the unit is in its state (waiting for X, exited with code 1, crash loop...)."""
    health_detail: str = ""
    exit_code: int | None = None
    restarts: int = 0
    failures: int = 0
    """Consecutive failed runs; reset once a run stays up for the backoff's stable period."""
    crash_loop: bool = False
    """Failed CRASH_LOOP_FAILURES times in a row and not yet stable again."""
    start_failed: bool = False
    """The latest attempt failed before the unit ran (missing image, cwd, command...)."""
    start_failure: str = ""
    """What kind of start failure, as the runner reported it: image_missing | port_taken |
    start_failed (anything else: a working directory, a command); empty while none."""
    started_at: float | None = None
    """Wall-clock time the current run began (None while not running)."""
    adopted: bool = False
    """The running container was taken over from an earlier daemon, not started anew."""
    desired: str = "stopped"
    """running | stopped: what the unit is driven to (a stopped unit is not reloaded)."""
    cpu_percent: float | None = None
    memory_bytes: int | None = None
    endpoints: tuple[str, ...] = ()
    """Published ports / URLs: `127.0.0.1:5432->5432`, `http://127.0.0.1:8080`."""
    last_reload: ReloadRecord | None = None
    problem: str = ""
    """What is wrong with the unit, in a sentence, when something is (crashed, crash-looping,
    restarting after a failure, unhealthy); empty otherwise. Decided once, by the engine
    (`neodev.engine.problems`): every client shows this, none decides it again."""
    engine_outage: bool = False
    """The unit is down because its engine (Docker) is unreachable, not by its own fault."""
    unavailable: str = ""
    """What the unit cannot run without and cannot be had, in a few words (`image
    grafana/loki:3.7.2`): set while the unit is `unavailable`, and on a unit skipped because
    of one (see `skipped_by`); empty otherwise."""
    skipped_by: str = ""
    """The unavailable unit (at the root of the chain) this unit needs: it is skipped — still
    `pending`, said so in `reason` — and starts by itself once that one can. Empty otherwise."""


FAILURE_KINDS = ("port_taken", "image_missing", "start_failed", "crash_loop", "exited",
                 "unhealthy", "timeout", "held_back")
"""The kinds of a failed verdict, most specific first: when units fail for different
reasons, the first kind in this order is the wait's (`WaitResult.failure`, and the exit code
of `start --wait`). `held_back` comes last: the unit holding it back has a kind of its own
(unless that one is optional, and then only held_back is left)."""
VERDICT_KINDS = ("ready", "completed", *FAILURE_KINDS)
"""Every `Verdict.kind`: ready (healthy, or settled without a probe), completed (exited 0 as
intended), a failure kind, or held_back (by a failed dependency)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """Why one unit is, or is not, ready at the end of a wait."""

    unit: str
    ok: bool
    state: str
    health: str
    reason: str = ""
    kind: str = ""
    """One of `VERDICT_KINDS`: what the verdict is, for scripts (stable)."""
    last_probe: str = ""
    """The readiness probe's last answer (`GET /health -> 503 ...`), when the unit has one."""
    held_back_by: str | None = None
    """The failed dependency that keeps this unit from starting (its own verdict says why)."""
    optional: bool = False
    """An optional unit that is not ready: `ok` (the environment does not need it), said so."""
    last_logs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WaitResult:
    """`POST /v1/wait`: every unit's verdict; `ok` when all are."""

    JSON_PROPERTIES: ClassVar[tuple[str, ...]] = ("failure",)
    ok: bool
    units: tuple[Verdict, ...] = ()

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(v.unit for v in self.units if not v.ok)

    @property
    def failure(self) -> str | None:
        """The wait's failure kind: of the failed units' kinds, the first in `FAILURE_KINDS`
        (None when the wait is ok)."""
        kinds = {v.kind for v in self.units if not v.ok}
        return next((kind for kind in FAILURE_KINDS if kind in kinds), None)


@dataclass(frozen=True, slots=True)
class Started:
    """`POST /v1/start`: the units started now, in start order."""

    started: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Stopped:
    """`POST /v1/stop` and `/v1/shutdown`: the units stopped."""

    stopped: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ActResult:
    """`POST /v1/units/{name}/{action}`: the unit's record after the action."""

    unit: UnitRecord


# --- details --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One step of a unit's start: waited for dependencies, started, ready..."""

    ts: float
    what: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class PortDetail:
    """A port of a unit: a container's mapping (declared and published) or a process' port."""

    container_port: int | None = None
    host_ip: str = "127.0.0.1"
    declared_host_port: int | None = None
    published_host_port: int | None = None
    port: int | None = None
    """A process' own port."""
    protocol: str = "tcp"


@dataclass(frozen=True, slots=True)
class DependencyDetail:
    service: str
    condition: str
    met: bool
    state: str


@dataclass(frozen=True, slots=True)
class ProbeDetail:
    """A readiness or liveness check as configured."""

    kind: str
    url: str | None = None
    expect_status: int = 200
    host: str = "127.0.0.1"
    port: int | None = None
    command: tuple[str, ...] = ()
    pattern: str | None = None
    interval: float = 1.0
    timeout: float = 5.0
    retries: int = 3
    start_period: float = 0.0


@dataclass(frozen=True, slots=True)
class BackoffDetail:
    initial: float
    factor: float
    maximum: float
    reset_after: float


@dataclass(frozen=True, slots=True)
class ReloadCounts:
    completed: int = 0
    ignored_while_stopped: int = 0


@dataclass(frozen=True, slots=True)
class UnitDetails:
    """`GET /v1/units/{name}`: everything known about one unit, secrets masked."""

    name: str
    kind: str
    status: UnitRecord
    spec: JsonObject
    """The unit's configuration as `neodev config` shows it (secrets masked)."""
    ports: tuple[PortDetail, ...] = ()
    restart: str = "no"
    backoff: BackoffDetail | None = None
    readiness: ProbeDetail | None = None
    liveness: ProbeDetail | None = None
    depends_on: tuple[DependencyDetail, ...] = ()
    last_exit_code: int | None = None
    last_reload: ReloadRecord | None = None
    reloads: ReloadCounts = ReloadCounts()
    timeline: tuple[TimelineEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """`GET /v1/units/{name}/connection`: how to connect to a unit (secrets included: the
    person asked, on the 0600 socket). kind: postgres | url | address, or None."""

    kind: str | None = None
    value: str | None = None
