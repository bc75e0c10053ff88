"""The read-only tools: status, details, readiness, logs, the start timeline, URLs, snapshots.

Each tool is a plain async function over the `AgentContext`, its parameters typed (their
descriptions and bounds become the input schema), its answer a record (its type becomes the
output schema). `registry.py` adapts them to the MCP SDK; none of them imports it. None changes
the environment or starts a daemon: with no daemon they say so (`status`) or fail with a
message saying to call `start`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from neodev import overview
from neodev.client import calls
from neodev.errors import DaemonError
from neodev.mcp.context import AgentContext
from neodev.mcp.results import (
    EnvironmentStatus,
    LogSearch,
    MachineInstances,
    ReadyReport,
    Timeline,
    TimelineStep,
    UnitReload,
)
from neodev.protocol.db import Snapshots
from neodev.protocol.documents import Telemetry
from neodev.protocol.logs import LogRecord
from neodev.protocol.units import UnitDetails

MAX_WAIT = 600.0
"""Longest `wait_ready` (seconds): an agent's call must come back."""
MAX_PAGE = 200
"""Most log lines one page hands an agent."""

Unit = Annotated[str, Field(min_length=1, max_length=128,
                            description="A unit (service) name, as `status` lists them.")]
Units = Annotated[list[Unit] | None, Field(
    max_length=64, description="Unit names (as `status` lists them); none: every unit.")]
ServiceName = Annotated[str | None, Field(
    max_length=128, description="The Postgres unit (default: the profile's only one).")]
Level = Literal["error", "warn", "info", "debug"]
Stream = Literal["stdout", "stderr", "neodev"]


async def status(ctx: AgentContext) -> EnvironmentStatus:
    """Every unit of this workspace's environment: state, health, whether it is ready and why
    not (`reason`, `problem`), its ports and URLs (`endpoints`), restarts, the last hot reload,
    and which units are reloading now. `running` is false when no environment runs here (the
    `start` tool starts one)."""
    not_running = EnvironmentStatus(running=False, workspace=ctx.scope.workspace,
                                    profile=ctx.scope.profile)
    if ctx.running() is None:
        return not_running
    try:
        doc = await ctx.daemon.call(calls.status())
    except DaemonError:
        if ctx.running() is None:  # it ended meanwhile
            return not_running
        raise
    return EnvironmentStatus(running=True, workspace=doc.workspace, profile=doc.profile,
                             project=doc.project, instance=doc.instance_info, units=doc.units,
                             reloading=tuple(ctx.reloads.reloading()))


async def unit_details(ctx: AgentContext, unit: Unit) -> UnitDetails:
    """Everything known about one unit: its configuration (secrets masked), status, ports
    declared and published, readiness and liveness checks, restart policy, dependencies and
    whether each is met, last exit code, last reload and its start timeline."""
    return await (await ctx.client()).call(calls.unit(unit))


async def wait_ready(
    ctx: AgentContext, units: Units = None,
    timeout_seconds: Annotated[float, Field(
        ge=0, le=MAX_WAIT, description="Seconds to wait at most (0: judge now).")] = 60.0,
) -> ReadyReport:
    """Wait until the units (and what they depend on) are ready, one has failed, or the
    timeout passes; a hot reload in progress (after you edit a watched file) is let finish
    first, so the answer is about the new code. Each verdict says why a unit is not ready:
    its reason, the failed dependency holding it back (`held_back_by`: read that unit's
    verdict for the root cause) and its last log lines; `reloads` gives each unit's latest
    reload (`build_failed` keeps the old process serving: read its `detail`)."""
    client = await ctx.client()
    deadline = time.monotonic() + timeout_seconds
    still = await ctx.reloads.settled(units, timeout_seconds)
    remaining = max(deadline - time.monotonic(), 0.0)
    result = await client.call(calls.wait(units, remaining))
    waited = {v.unit for v in result.units}
    doc = await client.call(calls.status())
    reloads = tuple(UnitReload(u.name, u.last_reload) for u in doc.units
                    if u.name in waited and u.last_reload is not None)
    return ReadyReport(ok=result.ok and not still, units=result.units, reloads=reloads,
                       still_reloading=tuple(still))


async def search_logs(
    ctx: AgentContext, units: Units = None,
    text: Annotated[str | None, Field(
        max_length=1000, description="Only lines containing this text.")] = None,
    regex: Annotated[str | None, Field(
        max_length=1000, description="Only lines matching this regular expression "
        "(Python syntax).")] = None,
    case_sensitive: Annotated[bool, Field(
        description="Match `text`/`regex` case-sensitively.")] = False,
    levels: Annotated[list[Level] | None, Field(
        max_length=4, description="Only lines of these levels (as detected from the line).")
    ] = None,
    streams: Annotated[list[Stream] | None, Field(
        max_length=3, description="Only these streams (`neodev`: reloads, pulls, lost "
        "streams, as neodev writes them).")] = None,
    since_seconds: Annotated[float | None, Field(
        ge=0, le=7 * 86_400, description="Only lines of the last N seconds.")] = None,
    before_id: Annotated[int | None, Field(
        ge=0, description="Page backwards: the newest matching lines older than this id.")
    ] = None,
    after_id: Annotated[int | None, Field(
        ge=0, description="Page forwards: the oldest matching lines newer than this id.")
    ] = None,
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE, description="Lines per page.")] = 50,
    max_line_chars: Annotated[int, Field(
        ge=80, le=16_384, description="Longer lines are cut here (the cut is marked).")
    ] = 500,
    probe_lines: Annotated[bool, Field(
        description="Include the lines that answer neodev's own readiness and liveness "
        "probes (an app's `GET /health 200` every second; left out by default).")] = False,
) -> LogSearch:
    """Search the retained output of the units (every line is already masked): by text or
    regular expression, unit, level, stream and age, newest matches first unless `after_id`
    is given. Answers one bounded page, oldest line first, each line with its id; page on
    with `next_before_id` (older) or `next_after_id` (newer)."""
    since = time.time() - since_seconds if since_seconds is not None else None
    page = await (await ctx.client()).call(calls.logs(
        units, streams=streams, levels=levels, q=text, regex=regex, case=case_sensitive,
        before=before_id, after=after_id, since=since, limit=limit, probes=probe_lines))
    lines = tuple(_shorten(line, max_line_chars) for line in page.lines)
    forward = after_id is not None
    more = page.more and bool(lines)
    return LogSearch(
        lines=lines, more=more, last_id=page.last_id,
        next_before_id=lines[0].id if more and not forward else None,
        next_after_id=lines[-1].id if more and forward else None,
        shortened=sum(1 for new, old in zip(lines, page.lines, strict=True) if new is not old))


def _shorten(record: LogRecord, limit: int) -> LogRecord:
    """The record with its line cut at `limit` characters and the cut marked (an agent's
    context is small; the whole line stays in the daemon)."""
    if len(record.line) <= limit:
        return record
    cut = len(record.line) - limit
    return dataclasses.replace(record, line=f"{record.line[:limit]} … [{cut} more characters]")


async def startup_timeline(ctx: AgentContext, units: Units = None) -> Timeline:
    """The latest start of the units (all when none named), merged in time order: when each
    waited for its dependencies, started, and became ready."""
    client = await ctx.client()
    names = units or [u.name for u in (await client.call(calls.status())).units]
    steps = [TimelineStep(name, entry.ts, entry.what, entry.detail)
             for name in names
             for entry in (await client.call(calls.unit(name))).timeline]
    return Timeline(tuple(sorted(steps, key=lambda step: step.ts)))


async def observability_urls(ctx: AgentContext) -> Telemetry:
    """The observability side of the environment: Grafana, Prometheus and Loki URLs, a Grafana
    Explore link on each unit's log lines (`logs`), the units Prometheus scrapes, and the
    state of the log shipping to Loki."""
    return (await (await ctx.client()).call(calls.status())).telemetry


async def db_list_snapshots(ctx: AgentContext, service: ServiceName = None) -> Snapshots:
    """The snapshots of the dev database (oldest first): name, database, size, when taken,
    and whether `db_restore_snapshot` took it automatically."""
    return await (await ctx.client()).call(calls.snapshots(service))


async def instances(ctx: AgentContext) -> MachineInstances:
    """Every neodev instance on this machine (each checkout or worktree runs its own): name,
    workspace, state (running / stopped / orphaned: its workspace was deleted), ports, URLs,
    database size and memory. Read-only: the other tools act on this server's instance only
    (`this`)."""
    def survey() -> MachineInstances:
        client = overview.engine()
        found = overview.machine_instances(client=client)
        here = Path(ctx.scope.workspace).resolve()
        this = next((i.name for i in found if Path(i.workspace).resolve() == here), "")
        return MachineInstances(tuple(found), this, "" if client else overview.NO_ENGINE)
    return await asyncio.to_thread(survey)
