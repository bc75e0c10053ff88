"""The records of the agent tools whose answer is not one record of the daemon.

Frozen standard-library dataclasses like `neodev.protocol`'s, built from the daemon's records
(never from dicts) and written with the same codec; their docstrings become the descriptions
in each tool's output schema. A tool whose answer is one daemon record (`UnitDetails`,
`Telemetry`, `Snapshots`, ...) returns that record itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from neodev.protocol.documents import InstanceInfo, InstanceSummary
from neodev.protocol.logs import LogRecord
from neodev.protocol.units import ReloadRecord, UnitRecord, Verdict


@dataclass(frozen=True, slots=True)
class EnvironmentStatus:
    """This workspace's environment: every unit's status, and the units reloading now."""

    running: bool
    """False when no environment runs in this workspace (the `start` tool starts one)."""
    workspace: str
    profile: str
    """The running environment's profile (or the one `start` would run)."""
    project: str = ""
    instance: InstanceInfo | None = None
    """Which instance of this machine this is (each checkout or worktree is one), and the host
    ports it uses for the profile's ports."""
    units: tuple[UnitRecord, ...] = ()
    reloading: tuple[str, ...] = ()
    """Units in the middle of a hot reload (building or restarting); `wait_ready` lets their
    reload end before it judges them."""


@dataclass(frozen=True, slots=True)
class MachineInstances:
    """Every neodev instance on this machine (each checkout or worktree is one)."""

    instances: tuple[InstanceSummary, ...] = ()
    this: str = ""
    """The name of the instance this server serves (the only one its tools act on)."""
    warning: str = ""
    """What could not be looked at (no Docker engine: sizes and containers not shown)."""


@dataclass(frozen=True, slots=True)
class UnitReload:
    """A unit's latest hot reload, as `wait_ready` found it."""

    unit: str
    last_reload: ReloadRecord


@dataclass(frozen=True, slots=True)
class ReadyReport:
    """`wait_ready`: a verdict per unit waited for (the named ones and what they depend on),
    and the outcome of each one's latest hot reload."""

    ok: bool
    """Every unit is ready (an optional unit that is not ready does not count)."""
    units: tuple[Verdict, ...] = ()
    """Why each unit is or is not ready: `reason`, the failed dependency that holds it back
    (`held_back_by`, whose own verdict gives the root cause) and its last log lines."""
    reloads: tuple[UnitReload, ...] = ()
    """The latest reload of each unit waited for that has been reloaded."""
    still_reloading: tuple[str, ...] = ()
    """Units whose reload had not ended when the timeout came."""


@dataclass(frozen=True, slots=True)
class LogSearch:
    """One bounded page of retained log lines, oldest first, each with its id."""

    lines: tuple[LogRecord, ...] = ()
    more: bool = False
    """The page is full: more matching lines are retained beyond it."""
    next_before_id: int | None = None
    """Pass as `before_id` for the page of older matching lines (when `more`)."""
    next_after_id: int | None = None
    """Pass as `after_id` for the page of newer matching lines (when `more`, paging forward)."""
    last_id: int = 0
    """The newest id the daemon has given: pass it as `after_id` later to read only what came
    after now."""
    shortened: int = 0
    """Lines of this page cut to `max_line_chars` (their ends are marked)."""


@dataclass(frozen=True, slots=True)
class TimelineStep:
    """One step of a unit's latest start: waited for a dependency, started, ready..."""

    unit: str
    ts: float
    """Wall-clock time, epoch seconds."""
    what: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Timeline:
    """The latest start of the units, merged and in time order."""

    steps: tuple[TimelineStep, ...] = ()


@dataclass(frozen=True, slots=True)
class StartReport:
    """`start`: the units started now, and what the person should know about the daemon."""

    started: tuple[str, ...] = ()
    """Units started by this call (with their dependencies), in start order."""
    spawned: bool = False
    """A daemon was started for this workspace by this call."""
    warnings: tuple[str, ...] = ()
    """The profile's non-fatal findings (unset variables, missing directories...)."""
    generated_secrets: tuple[str, ...] = ()
    """Names (never values) of secrets generated now into `secrets_file`."""
    secrets_file: str | None = None
