"""The daemon's HTTP API, served on the workspace's Unix socket only.

Every endpoint answers JSON built from the records of `neodev.protocol`; errors are data
(`{"error": NeodevError.to_dict()}`, the error's own fields included) with a 4xx/5xx status,
never a traceback. Every input is validated (types, finite numbers, bounds) before anything
runs, so a stream never starts for a request that will fail. Streams (events, log follow, job
follow) are NDJSON, one object per line.

The routes are one table (`create_app`): each names its handler and the pydantic models of its
inputs — path parameters, query parameters (`Params`) and the JSON body (`Body`).
`neodev.daemon.routing` validates them, serves them with Starlette and generates the OpenAPI
document at `/openapi.json` from the same models.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette

from neodev import __version__
from neodev.daemon.dbbranch import branch_database
from neodev.daemon.details import connection_string
from neodev.daemon.diagnostics import diagnostics as report_diagnostics
from neodev.daemon.environment import ACTIONS, Environment
from neodev.daemon.instance import instance_info
from neodev.daemon.routing import Route, build_app
from neodev.errors import RequestError
from neodev.protocol import endpoints as ep
from neodev.protocol.cluster import JobRecord, Jobs
from neodev.protocol.db import (
    DatabaseBranched,
    SnapshotDropped,
    SnapshotRestored,
    Snapshots,
    SnapshotTaken,
)
from neodev.protocol.documents import (
    PROTOCOL_VERSION,
    Diagnostics,
    DownReport,
    Ping,
    Status,
    Wiring,
)
from neodev.protocol.events import EVENT_TYPES, Event, LogEvent, Resync, Snapshot
from neodev.protocol.logs import LogGap, LogPage, LogRecord
from neodev.protocol.logsearch import LogQuery
from neodev.protocol.units import (
    ActResult,
    ConnectionInfo,
    Started,
    Stopped,
    UnitDetails,
    WaitResult,
)

MAX_WAIT = 86_400.0
"""Longest `timeout` a wait accepts (seconds)."""
MAX_PAGE = 10_000
"""Most log lines one page answers."""
NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"

UnitName = Annotated[str, Field(pattern=NAME)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UnitsRequest(Body):
    units: list[UnitName] | None = Field(default=None, max_length=256)


class WaitRequest(Body):
    units: list[UnitName] | None = Field(default=None, max_length=256)
    timeout: float = Field(default=120.0, ge=0, le=MAX_WAIT, allow_inf_nan=False)


class DownRequest(Body):
    volumes: bool = False


class JobRequest(Body):
    kind: Literal["cluster"] = "cluster"
    action: Literal["up", "status", "down"]
    profile: str = Field(default="staging", min_length=1, max_length=4096)
    """A profile name (`staging`) or the path of a profile file."""


SnapshotName = Annotated[str, Field(min_length=1, max_length=64)]
"""Checked by neodev.daemon.dbsnapshots.check_name, whose message says what is valid."""


class SnapshotRequest(Body):
    name: SnapshotName
    service: UnitName | None = None
    """The Postgres unit (default: the profile's only one)."""
    force: bool = False
    """Disconnect sessions neodev does not manage instead of refusing."""


class RestoreRequest(Body):
    service: UnitName | None = None
    force: bool = False


class BranchRequest(Body):
    source: str = Field(min_length=1, max_length=64)
    """The instance whose data to copy."""
    snapshot: SnapshotName | None = None
    """One of its snapshots, put in place of the database after the copy."""
    service: UnitName | None = None


class Params(BaseModel):
    """The path or query parameters of one route, one field each (unknown ones are ignored)."""


class UnitPath(Params):
    name: UnitName


class ActionPath(Params):
    name: str
    action: str


class SnapshotPath(Params):
    name: SnapshotName


class JobPath(Params):
    job_id: str


class LogsQuery(Params):
    unit: list[str] | None = Field(default=None, max_length=256)
    stream: list[str] | None = Field(default=None, max_length=8)
    level: list[str] | None = Field(default=None, max_length=8)
    q: str | None = Field(default=None, max_length=1000)
    regex: str | None = Field(default=None, max_length=1000)
    case: bool = False
    before: int | None = Field(default=None, ge=0)
    after: int | None = Field(default=None, ge=0)
    since: float | None = Field(default=None, allow_inf_nan=False)
    limit: int = Field(default=200, ge=0, le=MAX_PAGE)
    probes: bool = True
    """Include the lines that answer neodev's own probes (false: hide them)."""


class FollowLogsQuery(Params):
    unit: list[str] | None = Field(default=None, max_length=256)
    stream: list[str] | None = Field(default=None, max_length=8)
    after: int | None = Field(default=None, ge=0)
    n: int = Field(default=0, ge=0, le=MAX_PAGE)
    since: float | None = Field(default=None, allow_inf_nan=False)
    probes: bool = True


class EventsQuery(Params):
    since: int | None = Field(default=None, ge=0)
    instance: str | None = Field(default=None, max_length=64)
    unit: list[str] | None = Field(default=None, max_length=256)
    type: list[str] | None = Field(default=None, max_length=8)
    follow: bool = True


class ServiceQuery(Params):
    service: str | None = Field(default=None, pattern=NAME)
    """The Postgres unit (default: the profile's only one)."""


def create_app(env: Environment, request_shutdown: Callable[[], None]) -> Starlette:
    """The API over one `Environment`; `request_shutdown` ends the daemon after the response."""

    async def ping() -> Ping:
        return Ping(protocol=PROTOCOL_VERSION, version=__version__, instance=env.instance,
                    profile=env.plan.profile, project=env.plan.project,
                    workspace=str(env.paths.root), pid=os.getpid(),
                    started_at=env.started_at, warnings=tuple(env.plan.warnings),
                    instance_info=instance_info(env.plan))

    async def status() -> Status:
        await env.engine.sample_stats()
        return status_document(env)

    async def start(body: UnitsRequest) -> Started:
        return Started(tuple(await env.start(body.units)))

    async def wait(body: WaitRequest) -> WaitResult:
        names = env.resolve(body.units)
        verdicts = await env.engine.wait_ready(names, body.timeout)
        return WaitResult(ok=all(v.ok for v in verdicts), units=tuple(verdicts))

    async def stop(body: UnitsRequest) -> Stopped:
        return Stopped(tuple(await env.stop(body.units)))

    async def unit(path_params: UnitPath) -> UnitDetails:
        return env.details(path_params.name)

    async def connection(path_params: UnitPath) -> ConnectionInfo:
        env.check_unit(path_params.name)
        return connection_string(env, path_params.name)

    async def act(path_params: ActionPath) -> ActResult:
        name, action = path_params.name, path_params.action
        env.check_unit(name)
        if action not in ACTIONS:
            raise RequestError(f"unknown action {action!r}; valid: {', '.join(ACTIONS)}",
                               param="action")
        return ActResult(await env.act(name, action))

    async def down(body: DownRequest) -> DownReport:
        report = await env.down(body.volumes)
        request_shutdown()
        return report

    async def shutdown() -> Stopped:
        stopped = await env.stop(None)
        request_shutdown()
        return Stopped(tuple(stopped))

    async def logs(query: LogsQuery) -> LogPage:
        log_query = _query(env, query.unit, query.stream, query.level, query.q, query.regex,
                           query.case, query.probes)
        try:
            lines = env.logs.page(log_query, before=query.before, after=query.after,
                                  limit=query.limit, since=query.since)
        except re.error as exc:
            raise RequestError(f"regex {query.regex!r} is not a valid regular expression: "
                               f"{exc}", param="regex") from exc
        return LogPage(tuple(lines), env.logs.last_id, more=len(lines) == query.limit)

    async def follow_logs(query: FollowLogsQuery) -> AsyncIterator[LogRecord | LogGap]:
        log_query = _query(env, query.unit, query.stream, None, None, None, False,
                           query.probes)
        return _log_follow(env, log_query, query.after, query.n, query.since)

    async def events(query: EventsQuery) -> AsyncIterator[Event]:
        units = env.known_units(query.unit)
        for kind in query.type or ():
            if kind not in EVENT_TYPES:
                raise RequestError(f"unknown event type {kind!r}; valid: "
                                   f"{', '.join(EVENT_TYPES)}", param="type")
        return _event_stream(env, query.since, query.instance, units, query.type,
                             query.follow)

    async def wiring() -> Wiring:
        return Wiring(tuple(await env.observability.check()))

    async def diagnostics() -> Diagnostics:
        return await report_diagnostics(env)

    async def snapshots(query: ServiceQuery) -> Snapshots:
        return Snapshots(tuple(await env.snapshots.listing(query.service)))

    async def take_snapshot(body: SnapshotRequest) -> SnapshotTaken:
        return await env.snapshots.take(body.name, body.service, body.force)

    async def restore_snapshot(path_params: SnapshotPath, body: RestoreRequest
                               ) -> SnapshotRestored:
        return await env.snapshots.restore(path_params.name, body.service, body.force)

    async def drop_snapshot(path_params: SnapshotPath, query: ServiceQuery) -> SnapshotDropped:
        return await env.snapshots.drop(path_params.name, query.service)

    async def branch(body: BranchRequest) -> DatabaseBranched:
        return await branch_database(env, body.source, body.snapshot, body.service)

    async def submit_job(body: JobRequest) -> JobRecord:
        return env.jobs.submit_cluster(body.action, body.profile)

    async def jobs() -> Jobs:
        return Jobs(tuple(env.jobs.list()))

    async def job(path_params: JobPath) -> JobRecord:
        return env.jobs.get(path_params.job_id)

    async def follow_job(path_params: JobPath) -> AsyncIterator[JobRecord]:
        env.jobs.get(path_params.job_id)  # an unknown id is a 404 before the stream starts
        return env.jobs.follow(path_params.job_id)

    # Where two routes share a path, the first declared answers a method neither has (405,
    # its methods in `Allow`): keep this order.
    routes = [
        Route(ep.PING, ping),
        Route(ep.STATUS, status),
        Route(ep.START, start, body=UnitsRequest),
        Route(ep.WAIT, wait, body=WaitRequest),
        Route(ep.STOP, stop, body=UnitsRequest),
        Route(ep.UNIT, unit, path_params=UnitPath),
        Route(ep.CONNECTION, connection, path_params=UnitPath),
        Route(ep.ACT, act, path_params=ActionPath),
        Route(ep.DOWN, down, body=DownRequest),
        Route(ep.SHUTDOWN, shutdown),
        Route(ep.LOGS, logs, query=LogsQuery),
        Route(ep.FOLLOW_LOGS, follow_logs, query=FollowLogsQuery),
        Route(ep.EVENTS, events, query=EventsQuery),
        Route(ep.WIRING, wiring),
        Route(ep.DIAGNOSTICS, diagnostics),
        Route(ep.SNAPSHOTS, snapshots, query=ServiceQuery),
        Route(ep.TAKE_SNAPSHOT, take_snapshot, body=SnapshotRequest),
        Route(ep.RESTORE_SNAPSHOT, restore_snapshot, path_params=SnapshotPath,
              body=RestoreRequest),
        Route(ep.DROP_SNAPSHOT, drop_snapshot, path_params=SnapshotPath, query=ServiceQuery),
        Route(ep.BRANCH_DATABASE, branch, body=BranchRequest),
        Route(ep.SUBMIT_JOB, submit_job, body=JobRequest),
        Route(ep.JOBS, jobs),
        Route(ep.JOB, job, path_params=JobPath),
        Route(ep.FOLLOW_JOB, follow_job, path_params=JobPath),
    ]
    return build_app(routes, title="neodev daemon", version=__version__)


def status_document(env: Environment) -> Status:
    """The environment as `neodev status --json` prints it; `units` at `seq` equals the fold
    of the event stream up to `seq`."""
    return Status(protocol=PROTOCOL_VERSION, instance=env.instance, seq=env.bus.seq,
                  profile=env.plan.profile, project=env.plan.project,
                  workspace=str(env.paths.root), units=tuple(env.units()),
                  reaped_orphans=tuple(env.reaped), clusters=dict(env.jobs.reports),
                  telemetry=env.observability.state(), volumes=tuple(env.plan.volumes),
                  jobs=tuple(j for j in env.jobs.list() if j.state == "running"),
                  instance_info=instance_info(env.plan))


def snapshot(env: Environment) -> Snapshot:
    return Snapshot(seq=env.bus.seq, ts=env.bus.now(), instance=env.instance,
                    units=tuple(env.units()))


def _query(env: Environment, units: list[str] | None, streams: list[str] | None,
           levels: list[str] | None, text: str | None, regex: str | None,
           case: bool, probes: bool) -> LogQuery:
    known = env.known_units(units)
    return LogQuery(units=frozenset(known) if known else None,
                    streams=frozenset(streams) if streams else None,
                    levels=frozenset(levels) if levels else None,
                    text=text or None, regex=regex or None, ignore_case=not case,
                    probes=probes)


async def _event_stream(env: Environment, since: int | None, instance: str | None,
                        units: list[str] | None, types: list[str] | None,
                        follow: bool) -> AsyncIterator[Event]:
    # Subscribe and take the snapshot (or the replay) in one step of the event loop: no
    # event can fall between them. Only a follower of unit events sees CPU and memory, so
    # only it makes the engine sample them often (the agent server follows reloads alone).
    sub = env.bus.subscribe(units, types, looking=not types or "unit" in types)
    try:
        replay = None
        if since is not None and instance in (None, env.instance):
            replay = env.bus.replay_since(since, types)
        last = env.bus.seq
        if replay is None:
            if since is not None:
                why = ("the daemon restarted" if instance not in (None, env.instance)
                       else "the daemon no longer holds those events")
                yield env.bus.resync(max(env.bus.seq - since, 0), why)
            yield snapshot(env)
        else:
            for event in replay:
                if sub.wants(event):
                    yield event
        if not follow:
            return
        while True:
            next_event: Event = await sub.next()
            if isinstance(next_event, Resync):
                yield next_event
                fresh = snapshot(env)
                last = fresh.seq
                yield fresh
                continue
            if next_event.seq <= last:
                continue  # already covered by the snapshot sent after a resync
            last = next_event.seq
            yield next_event
    finally:
        sub.close()


async def _log_follow(env: Environment, query: LogQuery, after: int | None, n: int,
                      since: float | None) -> AsyncIterator[LogRecord | LogGap]:
    sub = env.bus.subscribe(query.units, ("log",))
    match = query.matcher()
    try:
        if after is None:
            backlog = env.logs.page(query, limit=n, since=since) if n or since else []
        else:
            backlog = env.logs.page(query, after=after, limit=env.logs.lines_per_unit * 64)
        last = backlog[-1].id if backlog else (after if after is not None else env.logs.last_id)
        for record in backlog:
            yield record
        while True:
            event = await sub.next()
            if isinstance(event, Resync):
                # Fell behind: what is still retained is sent from the store, the rest counted.
                missing = env.logs.page(query, after=last, limit=env.logs.lines_per_unit * 64)
                lost = max(event.missed - len(missing), 0)
                if lost:
                    yield LogGap(lost)
                for record in missing:
                    last = record.id
                    yield record
                continue
            if isinstance(event, LogEvent) and event.record.id > last and match(event.record):
                last = event.record.id
                yield event.record
    finally:
        sub.close()
