"""The daemon's HTTP API (FastAPI), served on the workspace's Unix socket only.

Every endpoint answers JSON; errors are data (`{"error": NeodevError.to_dict()}`) with a 4xx/5xx
status, never a traceback. Logs and events stream as NDJSON, one object per line. FastAPI also
publishes the OpenAPI document at `/openapi.json`.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel

from neodev import __version__
from neodev.daemon.environment import Environment
from neodev.engine.events import LogLine
from neodev.errors import ConfigError, NeodevError


class UnitsRequest(BaseModel):
    units: list[str] | None = None


class WaitRequest(BaseModel):
    units: list[str] | None = None
    timeout: float = 120.0


class DownRequest(BaseModel):
    volumes: bool = False


def create_app(env: Environment, request_shutdown: Callable[[], None]) -> FastAPI:
    """The API over one `Environment`; `request_shutdown` ends the daemon after the response."""
    app = FastAPI(title="neodev daemon", version=__version__)

    @app.exception_handler(NeodevError)
    async def neodev_error(_: Request, exc: NeodevError) -> JSONResponse:
        status = 400 if isinstance(exc, ConfigError) else 409
        return JSONResponse({"error": exc.to_dict()}, status_code=status)

    @app.get("/v1/ping")
    async def ping() -> dict[str, Any]:
        return {"version": __version__, "profile": env.plan.profile,
                "workspace": str(env.paths.root)}

    @app.get("/v1/status")
    async def status() -> dict[str, Any]:
        return status_document(env)

    @app.post("/v1/start")
    async def start(body: UnitsRequest) -> dict[str, Any]:
        started = await env.start(body.units)
        return {"started": started}

    @app.post("/v1/wait")
    async def wait(body: WaitRequest) -> dict[str, Any]:
        names = env.resolve(body.units)
        verdicts = await env.engine.wait_ready(names, body.timeout)
        return {"ok": all(v.ok for v in verdicts), "units": [v.to_dict() for v in verdicts]}

    @app.post("/v1/stop")
    async def stop(body: UnitsRequest) -> dict[str, Any]:
        return {"stopped": await env.stop(body.units)}

    @app.post("/v1/units/{name}/restart")
    async def restart(name: str) -> dict[str, Any]:
        await env.restart(name)
        return {"restarted": name}

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
    async def logs(unit: list[str] = Query(default=[]), n: int | None = None,  # noqa: B008
                   since: float | None = None, follow: bool = False) -> StreamingResponse:
        names = env.known_units(unit) or list(env.engine.units)
        return StreamingResponse(_log_stream(env, names, n, since, follow),
                                 media_type="application/x-ndjson")

    @app.post("/v1/cluster/{action}")
    async def cluster(action: str, profile: str = "staging") -> StreamingResponse:
        async def lines() -> AsyncIterator[bytes]:
            async for item in env.cluster.run(action, profile):
                yield _line(item)
        return StreamingResponse(lines(), media_type="application/x-ndjson")

    @app.get("/v1/events")
    async def events() -> StreamingResponse:
        return StreamingResponse(_event_stream(env), media_type="application/x-ndjson")

    return app


def status_document(env: Environment) -> dict[str, Any]:
    """The environment as `neodev status --json` prints it."""
    now = time.time()
    units = []
    for status in env.engine.status():
        data = status.to_dict()
        data["uptime"] = round(now - status.started_at, 1) if status.started_at else None
        data["endpoints"] = _endpoints(env, status.name)
        units.append(data)
    return {"profile": env.plan.profile, "project": env.plan.project,
            "workspace": str(env.paths.root), "units": units,
            "reaped_orphans": env.reaped, "clusters": env.cluster.reports}


def _endpoints(env: Environment, name: str) -> list[str]:
    container = env.plan.containers.get(name)
    if container is not None:
        return [f"{p.host_ip}:{env.published_port(name, p.container_port) or p.host_port}"
                f"->{p.container_port}" for p in container.ports]
    process = env.plan.processes.get(name)
    if process is not None and process.port is not None:
        return [f"http://127.0.0.1:{process.port}"]
    return []


async def _log_stream(env: Environment, names: list[str], n: int | None, since: float | None,
                      follow: bool) -> AsyncIterator[bytes]:
    # Subscribe before reading the backlog, so no line falls between the two.
    subscription = env.bus.subscribe() if follow else None
    backlog: list[LogLine] = []
    for name in names:
        backlog.extend(env.engine.recent_logs(name, n, since))
    backlog.sort(key=lambda e: e.ts)
    try:
        for line in backlog:
            yield _line(line.to_dict())
        if subscription is None:
            return
        wanted = set(names)
        async for event in subscription:
            if isinstance(event, LogLine) and event.unit in wanted:
                yield _line(event.to_dict())
    finally:  # a client that disconnects mid-backlog must not leave a subscriber behind
        if subscription is not None:
            subscription.close()


async def _event_stream(env: Environment) -> AsyncIterator[bytes]:
    subscription = env.bus.subscribe()
    yield _line({"type": "snapshot", **status_document(env)})
    try:
        async for event in subscription:
            yield _line(event.to_dict())
    finally:
        subscription.close()


def _line(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, default=str) + "\n").encode()
