"""A deterministic daemon for the dashboard's snapshot tests.

The real API (`create_app`) served by uvicorn on a real Unix socket, over an `Environment`
whose runners are the scripted `FakeRunner`s (fixed CPU and memory, scripted output and
failures) and whose wall clock is fixed. It runs in a thread with an event loop of its own:
`snap_compare` drives the app with `App.run()` (its own `asyncio.run`), and httpx's ASGI
transport cannot carry the dashboard's streams (it hands a response over only once the body
is complete, and the event and log streams never complete).

Everything the dashboard shows is then fixed: unit order (a dependency chain), state, CPU,
memory, uptime (the app's clock is `APP_NOW`, the daemon's `WALL`), the log lines and their
ids (written by the test, in order, once every unit is ready).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import uvicorn

from neodev.client.aio import AsyncDaemonClient
from neodev.config.model import EnvironmentPlan, ProcessSpec, UnitSpec
from neodev.daemon.api import create_app
from neodev.daemon.environment import Environment
from neodev.daemon.server import bind_control_socket
from neodev.engine.runner import LogSink, Runner
from neodev.paths import WorkspacePaths
from tests.api.scripted import process as api_process
from tests.supervisor.fakes import FakeRunner, Run
from tests.waiting import until_async

T = TypeVar("T")

WALL = 1_767_225_600.0
"""The daemon's wall clock: 2026-01-01 00:00:00 UTC, forever."""
APP_NOW = WALL + 125.0
"""The dashboard's clock: every unit has been up 2m05s."""
TIMEOUT = 15.0
"""Seconds any step here may take (they take milliseconds)."""
SECRET = "snapshot-secret-31"


def process(name: str, *deps: str, env: dict[str, str] | None = None,
            restart: str = "on-failure") -> ProcessSpec:
    """A process unit with a fixed working directory (the details screen shows it)."""
    return api_process(name, Path(f"/srv/shop/{name}"), *deps, env=env, restart=restart)


def shop_plan(root: Path, failing: bool = False) -> EnvironmentPlan:
    """db <- api <- worker: a chain, so the units start (and print) in one order.

    With `failing`, the worker cannot start and has no restart policy: it stays crashed.
    """
    units = [process("db"), process("api", "db", env={"API_TOKEN": SECRET, "PORT": "8080"}),
             process("worker", "api", restart="no" if failing else "on-failure")]
    return EnvironmentPlan(profile="local", project="shop", workspace=root,
                           profile_file=root / "profiles" / "local.toml",
                           network="shop_default", processes={u.name: u for u in units},
                           log_lines=500)


def shop_runners(failing: bool = False) -> dict[str, FakeRunner]:
    worker = Run(start_error="./run worker: No such file or directory",
                 output="worker: exec ./run") if failing else Run(output="worker polling the queue")
    return {"db": FakeRunner("db", runs=[Run(output="db accepting connections")]),
            "api": FakeRunner("api", runs=[Run(output="api listening on :8080")]),
            "worker": FakeRunner("worker", runs=[worker])}


class ScriptedDaemon:
    """The API of a scripted Environment on `<root>/.neodev/daemon.sock`, in a thread.

    Use as a context manager; `run` executes a coroutine in the daemon's loop.
    """

    def __init__(self, root: Path, plan: EnvironmentPlan,
                 runners: dict[str, FakeRunner]) -> None:
        self.paths = WorkspacePaths(root)
        self.plan = plan
        self.runners = runners
        self.env: Environment | None = None
        self.shutdowns = 0
        """Times the API asked the daemon to end (`down`, `shutdown`)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: uvicorn.Server | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="scripted-daemon", daemon=True)

    # -- the daemon's thread ----------------------------------------------------------------

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by __enter__ or __exit__, never lost
            self._failure = exc
            self._ready.set()

    def _factory(self, spec: UnitSpec, sink: LogSink) -> Runner:
        runner = self.runners.setdefault(spec.name, FakeRunner(spec.name))
        runner.sink = sink
        return runner

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.paths.ensure_state_dir()
        env = Environment(self.plan, self.paths, runner_factory=self._factory,
                          wall=lambda: WALL, stats_interval=0.05)
        self.env = env
        await env.open()
        config = uvicorn.Config(create_app(env, self._shutdown_requested), lifespan="off",
                                log_level="warning")
        server = uvicorn.Server(config)  # in a thread, uvicorn installs no signal handlers
        self._server = server
        serving = asyncio.create_task(
            server.serve(sockets=[bind_control_socket(self.paths.socket)]))
        # uvicorn has no "started" event to await
        await until_async(lambda: server.started or serving.done(), "the scripted daemon serving",
                          30, interval=0.01)
        self._ready.set()
        try:
            await serving
        finally:
            await env.close()

    def _shutdown_requested(self) -> None:
        self.shutdowns += 1  # the daemon keeps serving: the test ends it

    async def _shutdown(self) -> None:
        assert self.env is not None and self._server is not None
        await self.env.engine.stop()
        self.env.bus.close()  # open streams (the dashboard's followers) end now
        self._server.should_exit = True

    # -- the test's side ----------------------------------------------------------------------

    def __enter__(self) -> ScriptedDaemon:
        self._thread.start()
        if not self._ready.wait(TIMEOUT):
            raise TimeoutError(f"the scripted daemon did not serve within {TIMEOUT}s")
        if self._failure is not None:
            raise RuntimeError("the scripted daemon failed to start") from self._failure
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._loop is not None and self._thread.is_alive():
            self.run(self._shutdown())
        self._thread.join(TIMEOUT)
        if self._thread.is_alive():
            raise TimeoutError(f"the scripted daemon did not stop within {TIMEOUT}s")
        if self._failure is not None and kind is None:
            raise RuntimeError("the scripted daemon failed") from self._failure

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine in the daemon's loop and return its result (bounded)."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(TIMEOUT)

    def call(self, fn: Callable[[], T]) -> T:
        """Run a plain function in the daemon's loop (the Environment is not thread-safe)."""
        async def call() -> T:
            return fn()
        return self.run(call())

    def client(self) -> AsyncDaemonClient:
        """A client for the dashboard (it binds to the loop of whoever uses it first)."""
        return AsyncDaemonClient(self.paths.socket)

    def print(self, lines: list[tuple[str, str]]) -> None:
        """(unit, line) pairs of output, in this order, as if the units printed them."""
        def write() -> None:
            for unit, line in lines:
                sink = self.runners[unit].sink
                assert sink is not None, f"{unit} has no sink (not built by the Environment)"
                sink(line, "stdout", WALL)
        self.call(write)
