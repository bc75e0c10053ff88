"""The daemon's HTTP API (FastAPI), served on the workspace's Unix socket only.

Every endpoint answers JSON built from the records of `neodev.protocol`; errors are data
(`{"error": NeodevError.to_dict()}`, the error's own fields included) with a 4xx/5xx status,
never a traceback. Every input is validated (types, finite numbers, bounds) before anything
runs, so a stream never starts for a request that will fail. Streams (events, log follow, job
follow) are NDJSON, one object per line. FastAPI also publishes the OpenAPI document at
`/openapi.json`.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from neodev import __version__
from neodev.daemon.details import connection_string
from neodev.daemon.environment import ACTIONS, Environment
from neodev.engine.events import StreamEnded
from neodev.engine.logs import LogQuery
from neodev.errors import NeodevError, RequestError
from neodev.protocol import (
    EVENT_TYPES,
    PROTOCOL_VERSION,
    Event,
    LogEvent,
    Resync,
    Snapshot,
)

log = logging.getLogger("neodev.daemon")

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


def create_app(env: Environment, request_shutdown: Callable[[], None]) -> FastAPI:
    """The API over one `Environment`; `request_shutdown` ends the daemon after the response."""
    app = FastAPI(title="neodev daemon", version=__version__)

    @app.exception_handler(NeodevError)
    async def neodev_error(_: Request, exc: NeodevError) -> JSONResponse:
        return JSONResponse({"error": exc.to_dict()}, status_code=exc.http_status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query"))
        error = RequestError(f"{where or 'request'}: {first.get('msg', 'invalid')}",
                             param=where or None)
        return JSONResponse({"error": error.to_dict()}, status_code=error.http_status)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error in the API")
        error = NeodevError(f"the daemon failed unexpectedly: {exc!r} (see .neodev/daemon.log)")
        return JSONResponse({"error": error.to_dict()}, status_code=500)

    @app.get("/v1/ping")
    async def ping() -> dict[str, Any]:
        return {"protocol": PROTOCOL_VERSION, "version": __version__, "instance": env.instance,
                "profile": env.plan.profile, "project": env.plan.project,
                "workspace": str(env.paths.root), "pid": os.getpid(),
                "started_at": env.started_at, "warnings": list(env.plan.warnings)}

    @app.get("/v1/status")
    async def status() -> dict[str, Any]:
        return status_document(env)

    @app.post("/v1/start")
    async def start(body: UnitsRequest) -> dict[str, Any]:
        return {"started": await env.start(body.units)}

    @app.post("/v1/wait")
    async def wait(body: WaitRequest) -> dict[str, Any]:
        names = env.resolve(body.units)
        verdicts = await env.engine.wait_ready(names, body.timeout)
        return {"ok": all(v.ok for v in verdicts), "units": [v.to_dict() for v in verdicts]}

    @app.post("/v1/stop")
    async def stop(body: UnitsRequest) -> dict[str, Any]:
        return {"stopped": await env.stop(body.units)}

    @app.get("/v1/units/{name}")
    async def unit(name: Annotated[str, Field(pattern=NAME)]) -> dict[str, Any]:
        return env.details(name)

    @app.get("/v1/units/{name}/connection")
    async def connection(name: Annotated[str, Field(pattern=NAME)]) -> dict[str, Any]:
        env.check_unit(name)
        return connection_string(env, name)

    @app.post("/v1/units/{name}/{action}")
    async def act(name: str, action: str) -> dict[str, Any]:
        env.check_unit(name)
        if action not in ACTIONS:
            raise RequestError(f"unknown action {action!r}; valid: {', '.join(ACTIONS)}",
                               param="action")
        record = await env.act(name, action)
        return {"unit": record.to_dict()}

    @app.post("/v1/down")
    async def down(body: DownRequest) -> dict[str, Any]:
        report = await env.down(body.volumes)
        request_shutdown()
        return report

    @app.post("/v1/shutdown")
    async def shutdown() -> dict[str, Any]:
        stopped = await env.stop(None)
        request_shutdown()
        return {"stopped": stopped}

    @app.get("/v1/logs")
    async def logs(unit: Annotated[list[str] | None, Query(max_length=256)] = None,
                   stream: Annotated[list[str] | None, Query(max_length=8)] = None,
                   level: Annotated[list[str] | None, Query(max_length=8)] = None,
                   q: Annotated[str | None, Query(max_length=1000)] = None,
                   regex: Annotated[str | None, Query(max_length=1000)] = None,
                   case: bool = False,
                   before: Annotated[int | None, Query(ge=0)] = None,
                   after: Annotated[int | None, Query(ge=0)] = None,
                   since: Annotated[float | None, Query(allow_inf_nan=False)] = None,
                   limit: Annotated[int, Query(ge=0, le=MAX_PAGE)] = 200) -> dict[str, Any]:
        query = _query(env, unit, stream, level, q, regex, case)
        try:
            lines = env.logs.page(query, before=before, after=after, limit=limit, since=since)
        except re.error as exc:
            raise RequestError(f"regex {regex!r} is not a valid regular expression: {exc}",
                               param="regex") from exc
        return {"lines": [r.to_dict() for r in lines], "last_id": env.logs.last_id,
                "more": len(lines) == limit}

    @app.get("/v1/logs/follow")
    async def follow_logs(unit: Annotated[list[str] | None, Query(max_length=256)] = None,
                          stream: Annotated[list[str] | None, Query(max_length=8)] = None,
                          after: Annotated[int | None, Query(ge=0)] = None,
                          n: Annotated[int, Query(ge=0, le=MAX_PAGE)] = 0,
                          since: Annotated[float | None, Query(allow_inf_nan=False)] = None,
                          ) -> StreamingResponse:
        query = _query(env, unit, stream, None, None, None, False)
        return _ndjson(_log_follow(env, query, after, n, since))

    @app.get("/v1/events")
    async def events(since: Annotated[int | None, Query(ge=0)] = None,
                     instance: Annotated[str | None, Query(max_length=64)] = None,
                     unit: Annotated[list[str] | None, Query(max_length=256)] = None,
                     type: Annotated[list[str] | None, Query(max_length=8)] = None,
                     follow: bool = True) -> StreamingResponse:
        units = env.known_units(unit)
        for kind in type or ():
            if kind not in EVENT_TYPES:
                raise RequestError(f"unknown event type {kind!r}; valid: "
                                   f"{', '.join(EVENT_TYPES)}", param="type")
        return _ndjson(_event_stream(env, since, instance, units, type, follow))

    @app.get("/v1/wiring")
    async def wiring() -> dict[str, Any]:
        return {"checks": await env.observability.check()}

    @app.get("/v1/db/snapshots")
    async def snapshots(service: Annotated[str | None, Query(pattern=NAME)] = None
                        ) -> dict[str, Any]:
        return {"snapshots": [r.to_dict() for r in await env.snapshots.listing(service)]}

    @app.post("/v1/db/snapshots")
    async def take_snapshot(body: SnapshotRequest) -> dict[str, Any]:
        return await env.snapshots.take(body.name, body.service, body.force)

    @app.post("/v1/db/snapshots/{name}/restore")
    async def restore_snapshot(name: SnapshotName, body: RestoreRequest) -> dict[str, Any]:
        return await env.snapshots.restore(name, body.service, body.force)

    @app.delete("/v1/db/snapshots/{name}")
    async def drop_snapshot(name: SnapshotName,
                            service: Annotated[str | None, Query(pattern=NAME)] = None
                            ) -> dict[str, Any]:
        return await env.snapshots.drop(name, service)

    @app.post("/v1/jobs", status_code=202)
    async def submit_job(body: JobRequest) -> dict[str, Any]:
        return env.jobs.submit_cluster(body.action, body.profile).to_dict()

    @app.get("/v1/jobs")
    async def jobs() -> dict[str, Any]:
        return {"jobs": [j.to_dict() for j in env.jobs.list()]}

    @app.get("/v1/jobs/{job_id}")
    async def job(job_id: str) -> dict[str, Any]:
        return env.jobs.get(job_id).to_dict()

    @app.get("/v1/jobs/{job_id}/follow")
    async def follow_job(job_id: str) -> StreamingResponse:
        env.jobs.get(job_id)  # an unknown id is a 404 before the stream starts

        async def records() -> AsyncIterator[dict[str, Any]]:
            async for record in env.jobs.follow(job_id):
                yield record.to_dict()
        return _ndjson(records())

    return app


def status_document(env: Environment) -> dict[str, Any]:
    """The environment as `neodev status --json` prints it; `units` at `seq` equals the fold
    of the event stream up to `seq`."""
    return {"protocol": PROTOCOL_VERSION, "instance": env.instance, "seq": env.bus.seq,
            "profile": env.plan.profile, "project": env.plan.project,
            "workspace": str(env.paths.root), "units": [u.to_dict() for u in env.units()],
            "reaped_orphans": env.reaped, "clusters": env.jobs.reports,
            "telemetry": env.observability.state(), "volumes": list(env.plan.volumes),
            "jobs": [j.to_dict() for j in env.jobs.list() if j.state == "running"]}


def snapshot(env: Environment) -> Snapshot:
    return Snapshot(seq=env.bus.seq, ts=env.bus.now(), instance=env.instance,
                    units=tuple(env.units()))


def _query(env: Environment, units: list[str] | None, streams: list[str] | None,
           levels: list[str] | None, text: str | None, regex: str | None,
           case: bool) -> LogQuery:
    known = env.known_units(units)
    return LogQuery(units=frozenset(known) if known else None,
                    streams=frozenset(streams) if streams else None,
                    levels=frozenset(levels) if levels else None,
                    text=text or None, regex=regex or None, ignore_case=not case)


async def _event_stream(env: Environment, since: int | None, instance: str | None,
                        units: list[str] | None, types: list[str] | None,
                        follow: bool) -> AsyncIterator[dict[str, Any]]:
    # Subscribe and take the snapshot (or the replay) in one step of the event loop: no
    # event can fall between them.
    sub = env.bus.subscribe(units, types, looking=True)
    try:
        replay = None
        if since is not None and instance in (None, env.instance):
            replay = env.bus.replay_since(since)
        last = env.bus.seq
        if replay is None:
            if since is not None:
                why = ("the daemon restarted" if instance not in (None, env.instance)
                       else "the daemon no longer holds those events")
                yield env.bus.resync(max(env.bus.seq - since, 0), why).to_dict()
            yield snapshot(env).to_dict()
        else:
            for event in replay:
                if sub.wants(event):
                    yield event.to_dict()
        if not follow:
            return
        while True:
            next_event: Event = await sub.next()
            if isinstance(next_event, Resync):
                yield next_event.to_dict()
                fresh = snapshot(env)
                last = fresh.seq
                yield fresh.to_dict()
                continue
            if next_event.seq <= last:
                continue  # already covered by the snapshot sent after a resync
            last = next_event.seq
            yield next_event.to_dict()
    finally:
        sub.close()


async def _log_follow(env: Environment, query: LogQuery, after: int | None, n: int,
                      since: float | None) -> AsyncIterator[dict[str, Any]]:
    sub = env.bus.subscribe(query.units, ("log",))
    match = query.matcher()
    try:
        if after is None:
            backlog = env.logs.page(query, limit=n, since=since) if n or since else []
        else:
            backlog = env.logs.page(query, after=after, limit=env.logs.lines_per_unit * 64)
        last = backlog[-1].id if backlog else (after if after is not None else env.logs.last_id)
        for record in backlog:
            yield {"type": "log", **record.to_dict()}
        while True:
            event = await sub.next()
            if isinstance(event, Resync):
                # Fell behind: what is still retained is sent from the store, the rest counted.
                missing = env.logs.page(query, after=last, limit=env.logs.lines_per_unit * 64)
                lost = max(event.missed - len(missing), 0)
                if lost:
                    yield {"type": "gap", "missed": lost}
                for record in missing:
                    last = record.id
                    yield {"type": "log", **record.to_dict()}
                continue
            if isinstance(event, LogEvent) and event.record.id > last and match(event.record):
                last = event.record.id
                yield {"type": "log", **event.record.to_dict()}
    finally:
        sub.close()


def _ndjson(items: AsyncIterator[dict[str, Any]]) -> StreamingResponse:
    async def lines() -> AsyncIterator[bytes]:
        try:
            async for item in items:
                yield (json.dumps(item, default=str) + "\n").encode()
        except StreamEnded:
            return  # the daemon is shutting down: end the stream cleanly
    return StreamingResponse(lines(), media_type="application/x-ndjson")
