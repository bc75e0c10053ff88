"""An Environment with scripted runners behind the real API, in process, under virtual time.

The daemon's `create_app` over an `Environment` whose runners are the scripted `FakeRunner`s
(tests/supervisor/fakes.py: they stand in for the container and process drivers, which have
their own integration tests), reached through httpx's ASGI transport — no socket, no real
sleeps. The same client class the dashboard uses (`AsyncDaemonClient`) talks to it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from neodev.client.aio import AsyncDaemonClient
from neodev.config.model import (
    Dependency,
    DependencyCondition,
    EnvironmentPlan,
    Probe,
    ProcessSpec,
    RestartPolicy,
    UnitSpec,
)
from neodev.daemon.api import create_app
from neodev.daemon.environment import Environment
from neodev.engine.runner import LogSink, Runner
from neodev.paths import WorkspacePaths
from tests.supervisor.fakes import FAST_BACKOFF, READY, FakeRunner
from tests.supervisor.vclock import VirtualTimeLoop


def process(name: str, tmp: Path, *deps: str, restart: str = "on-failure",
            env: dict[str, str] | None = None, readiness: Probe | None = READY,
            build: tuple[str, ...] | None = None) -> ProcessSpec:
    return ProcessSpec(name=name, cwd=tmp, command=("./run", name), env=env or {},
                       restart=RestartPolicy(restart), backoff=FAST_BACKOFF, readiness=readiness,
                       build=build, stop_grace=0.1,
                       depends_on=tuple(Dependency(service=d,
                                                   condition=DependencyCondition.HEALTHY)
                                        for d in deps))


def plan_of(tmp: Path, *specs: ProcessSpec, variables: dict[str, str] | None = None
            ) -> EnvironmentPlan:
    profile = tmp / "profiles" / "local.toml"
    return EnvironmentPlan(profile="local", project="apitest", workspace=tmp,
                           profile_file=profile, network="apitest_default",
                           processes={s.name: s for s in specs}, variables=variables or {},
                           log_lines=500)


class Scripted:
    """The scripted environment and a client of its API."""

    def __init__(self, env: Environment, client: AsyncDaemonClient,
                 runners: dict[str, FakeRunner]) -> None:
        self.env = env
        self.client = client
        self.runners = runners
        self.shutdowns = 0


@asynccontextmanager
async def scripted(tmp: Path, plan: EnvironmentPlan,
                   runners: dict[str, FakeRunner] | None = None) -> AsyncIterator[Scripted]:
    """The environment of `plan` with one FakeRunner per unit (given or default)."""
    loop = asyncio.get_running_loop()
    assert isinstance(loop, VirtualTimeLoop), "run API tests under @virtual_time"
    runners = runners or {}

    def factory(spec: UnitSpec, sink: LogSink) -> Runner:
        runner = runners.setdefault(spec.name, FakeRunner(spec.name))
        runner.sink = sink
        runner.can_build = bool(getattr(spec, "build", None))
        return runner

    env = Environment(plan, WorkspacePaths(tmp), runner_factory=factory, clock=loop.time,
                      wall=loop.wall, stats_interval=2.0)
    handle: Scripted | None = None

    def shutdown() -> None:
        assert handle is not None
        handle.shutdowns += 1

    app = create_app(env, shutdown)
    transport = httpx.ASGITransport(app=app)
    client = AsyncDaemonClient(tmp / "unused.sock", transport=transport)
    handle = Scripted(env, client, runners)
    try:
        yield handle
    finally:
        await env.engine.stop()
        await client.aclose()
        await env.close()
