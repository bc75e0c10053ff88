"""The async client's event follower over a real Unix socket: it says when the daemon goes
away, reconnects by itself, and resumes — a restarted daemon answers with a resync and a fresh
snapshot, never with a silent gap.

The daemon here is the real API (`create_app`) served by uvicorn on a real socket in this
process, over an Environment with scripted runners (the drivers have their own tests). Also
here, because it needs a stream that stays open: which followers make the daemon sample CPU
and memory often.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn

from neodev.client import Connection, calls
from neodev.client.aio import AsyncDaemonClient
from neodev.daemon.api import create_app
from neodev.daemon.environment import Environment
from neodev.daemon.server import bind_control_socket
from neodev.engine.runner import LogSink, Runner
from neodev.paths import WorkspacePaths
from neodev.protocol import Resync, Snapshot, UnitChanged
from tests.api.scripted import plan_of, process
from tests.supervisor.fakes import FakeRunner


@asynccontextmanager
async def daemon(tmp: Path, socket: Path) -> AsyncIterator[Environment]:
    plan = plan_of(tmp, process("db", tmp, readiness=None))

    def factory(spec, sink: LogSink) -> Runner:  # type: ignore[no-untyped-def]
        runner = FakeRunner(spec.name)
        runner.sink = sink
        return runner

    env = Environment(plan, WorkspacePaths(tmp), runner_factory=factory)
    server = uvicorn.Server(uvicorn.Config(create_app(env, lambda: None), lifespan="off",
                                           log_level="warning"))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    serving = asyncio.create_task(server.serve(sockets=[bind_control_socket(socket)]))
    try:
        yield env
    finally:
        await env.engine.stop()
        env.bus.close()  # as the daemon's shutdown does: open streams end
        server.should_exit = True
        await asyncio.wait_for(serving, 10)
        await env.close()


async def next_of(events: AsyncIterator[object], kind: type, limit: int = 200) -> object:
    for _ in range(limit):
        item = await asyncio.wait_for(events.__anext__(), 10)
        if isinstance(item, kind):
            return item
    raise AssertionError(f"no {kind.__name__} within {limit} items")


async def test_a_follower_reconnects_and_resyncs_after_a_daemon_restart(tmp_path: Path) -> None:
    socket = tmp_path / "daemon.sock"
    client = AsyncDaemonClient(socket)
    events = client.follow_events()
    try:
        async with daemon(tmp_path, socket) as first:
            assert await next_of(events, Connection) == Connection(True)
            snapshot = await next_of(events, Snapshot)
            assert snapshot.instance == first.instance  # type: ignore[attr-defined]
            await client.call(calls.start())
            changed = await next_of(events, UnitChanged)
            assert changed.status.name == "db"  # type: ignore[attr-defined]
        lost = await next_of(events, Connection)
        assert lost.connected is False  # type: ignore[attr-defined]
        async with daemon(tmp_path, socket) as second:
            assert await next_of(events, Connection) == Connection(True)
            resync = await next_of(events, Resync)
            assert "restarted" in resync.why  # type: ignore[attr-defined]
            fresh = await next_of(events, Snapshot)
            assert fresh.instance == second.instance != first.instance  # type: ignore
            assert [u.state for u in fresh.units] == ["pending"]  # type: ignore[attr-defined]
    finally:
        await events.aclose()
        await client.aclose()


async def test_only_a_follower_of_unit_events_makes_the_daemon_sample_cpu_and_memory_often(
        tmp_path: Path) -> None:
    socket = tmp_path / "daemon.sock"
    client = AsyncDaemonClient(socket)
    async with daemon(tmp_path, socket) as env:
        reloads = client.stream(calls.events(types=["reload"]))  # the agent server's
        assert isinstance(await asyncio.wait_for(reloads.__anext__(), 10), Snapshot)
        assert not env.bus.looking.is_set()
        units = client.stream(calls.events(types=["unit"]))
        assert isinstance(await asyncio.wait_for(units.__anext__(), 10), Snapshot)
        assert env.bus.looking.is_set()
        await units.aclose()
        everything = client.stream(calls.events())  # the dashboard's
        assert isinstance(await asyncio.wait_for(everything.__anext__(), 10), Snapshot)
        assert env.bus.looking.is_set()
        await everything.aclose()
        await reloads.aclose()
    await client.aclose()
