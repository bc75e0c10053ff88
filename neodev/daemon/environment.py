"""The running environment: a plan wired to drivers and the engine.

This is the composition root and the only place that knows both the engine and the drivers.
It creates the event bus and the log store first (every line is masked there, before it is kept,
published or written to `.neodev/logs/`), then one runner per unit — a `ContainerRunner` per
compose service, a `ProcessRunner` per local process — writing into that store, then the
`Engine` over them. It starts file watchers for hot reload, resolves `@{service:port}`
references from the ports Docker actually published, checks host ports before anything
starts, and answers the per-unit actions of the API with typed errors.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from neodev import ports
from neodev.config.display import mask_line, secret_values
from neodev.config.model import (
    ContainerSpec,
    EnvironmentPlan,
    ProcessSpec,
    UnitSpec,
    host_port,
)
from neodev.config.references import substitute
from neodev.daemon.dbsnapshots import DatabaseSnapshots, EngineUnits
from neodev.daemon.jobs import Jobs
from neodev.daemon.logfiles import LogFiles
from neodev.daemon.observability import Observability
from neodev.docker.psql import PsqlRunner
from neodev.engine.engine import Engine
from neodev.engine.events import EventBus
from neodev.engine.lines import MAX_LINE_CHARS
from neodev.engine.logs import LogStore
from neodev.engine.runner import LogSink, Runner
from neodev.errors import (
    DockerError,
    NeodevError,
    PortConflictError,
    UnitStateError,
    UnknownUnitError,
)
from neodev.paths import WorkspacePaths
from neodev.process.pids import PidRegistry, reap_orphans
from neodev.process.runner import ProcessRunner
from neodev.process.watcher import FileWatcher
from neodev.protocol.documents import DownReport
from neodev.protocol.logs import LogRecord
from neodev.protocol.units import ReloadRecord, UnitDetails, UnitRecord, UnitState

if TYPE_CHECKING:
    # The container driver is imported where it is first needed, not here: the docker SDK
    # (docker, requests, urllib3: some 6 MiB of the daemon's memory) is loaded only by an
    # environment with containers or an operation on the engine (down, snapshots).
    from neodev.docker.client import ClientFactory
    from neodev.docker.project import DockerProject

ACTIONS = ("start", "stop", "restart", "reload")
"""Per-unit actions of the API (`POST /v1/units/{name}/{action}`)."""
_STARTABLE = frozenset({UnitState.PENDING, UnitState.STOPPED, UnitState.EXITED,
                        UnitState.CRASHED})


class RunnerFactory(Protocol):
    """Builds the runner of one unit (the daemon's drivers; scripted runners in API tests)."""

    def __call__(self, spec: UnitSpec, sink: LogSink) -> Runner: ...


class Environment:
    """One workspace's units under supervision, for the daemon's API.

    Args:
        plan: The resolved profile.
        paths: The workspace's state paths.
        clients: Docker clients (when omitted, a factory made at first use; nothing connects
            until needed).
        runner_factory: Builds each unit's runner (default: the Docker and process drivers).
        clock, wall, sleep: Time, injected for tests.
        stats_interval: Seconds between CPU/memory samples.
    """

    def __init__(self, plan: EnvironmentPlan, paths: WorkspacePaths, *,
                 clients: ClientFactory | None = None,
                 runner_factory: RunnerFactory | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 stats_interval: float = 2.0) -> None:
        self.plan = plan
        self.paths = paths
        self.instance = uuid.uuid4().hex[:12]
        self.wall = wall
        self.started_at = wall()
        self.bus = EventBus(self.instance, wall)
        self.files = LogFiles(paths.logs_dir)
        self.observability = Observability(plan, self.bus, self.published_port,
                                           lambda name: self.engine.status_of(name))
        secrets = secret_values(plan)
        self.logs = LogStore(plan.units, self.bus, plan.log_lines,
                             mask=lambda text: mask_line(text, secrets, MAX_LINE_CHARS),
                             on_append=self._kept)
        self._clients = clients
        self._project: DockerProject | None = None
        self.pids = PidRegistry(paths.pids_file)
        self._published: dict[tuple[str, int], int] = {}
        self._watchers: dict[str, FileWatcher] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.reaped: list[str] = []
        factory = runner_factory or self._driver_runner
        self._runners = {name: factory(spec, self._sink(name))
                         for name, spec in plan.units.items()}
        self.engine = Engine(plan.units, self._runners, self.bus, self.logs, clock=clock, wall=wall,
                             sleep=sleep, stats_interval=stats_interval,
                             endpoints={n: self._endpoints(n) for n in plan.units})
        self.jobs = Jobs(paths, self.bus, wall, instance=plan.project,
                         port_block=plan.port_block)
        self.sql = PsqlRunner(plan.project, lambda: self.clients)
        self.snapshots = DatabaseSnapshots(plan, self.sql, EngineUnits(self.engine, self.start),
                                           clock=clock, wall=wall)

    def _kept(self, record: LogRecord) -> None:
        """A line the log store kept (masked): onto disk, and on its way to Loki."""
        self.files.write(record)
        self.observability.offer(record)

    def _sink(self, unit: str) -> LogSink:
        def sink(line: str, stream: str, ts: float) -> None:
            # The unit's runner knows its probes' requests: it says which lines answer them.
            self.logs.append(unit, line, stream, ts,
                             self._runners[unit].answers_probe(line, ts))
        return sink

    @property
    def clients(self) -> ClientFactory:
        """The Docker clients, made (and the docker SDK imported) at first use."""
        if self._clients is None:
            from neodev.docker.client import ClientFactory

            self._clients = ClientFactory()
        return self._clients

    @property
    def project(self) -> DockerProject:
        """The instance's compose project on the engine (network, volumes, published ports,
        down): what it makes carries the instance and the workspace, and what is another
        workspace's is refused, never taken over."""
        if self._project is None:
            from neodev.docker.labels import Owner
            from neodev.docker.project import DockerProject

            owner = Owner(self.plan.project, os.path.realpath(self.plan.workspace),
                          legacy=self.plan.legacy_resources)
            self._project = DockerProject(self.plan.project, self.clients, owner=owner)
        return self._project

    def _driver_runner(self, spec: UnitSpec, sink: LogSink) -> Runner:
        if isinstance(spec, ContainerSpec):
            from neodev.docker.runner import ContainerRunner

            return ContainerRunner(spec, self.plan.project, self.plan.network, sink,
                                   self.clients, on_ports=self._ports_published(spec.name),
                                   instance=self.project)
        assert isinstance(spec, ProcessSpec)
        return ProcessRunner(spec, sink, self.pids, resolve=self.resolve_references)

    # -- lifecycle ------------------------------------------------------------------------

    async def open(self) -> None:
        """Clean up after a daemon that died; wire up observability before anything starts."""
        self.reaped = await asyncio.to_thread(reap_orphans, self.pids)
        await self.observability.open()

    async def close(self) -> None:
        for watcher in self._watchers.values():
            await watcher.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.jobs.close()
        await self.observability.close()
        self.files.close()
        if self._clients is not None:
            self._clients.close()

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- status ---------------------------------------------------------------------------

    def units(self) -> list[UnitRecord]:
        return self.engine.status()

    def check_unit(self, name: str) -> None:
        """Raises UnknownUnitError naming the valid units."""
        if name not in self.plan.units:
            raise UnknownUnitError(name, list(self.plan.units))

    def known_units(self, names: Iterable[str] | None) -> list[str] | None:
        """The names, checked against the plan (None when none were given).

        Raises:
            UnknownUnitError: naming the first unknown unit and the valid ones.
        """
        if not names:
            return None
        names = list(names)
        for name in names:
            self.check_unit(name)
        return names

    # -- commands -------------------------------------------------------------------------

    async def start(self, names: Iterable[str] | None) -> list[str]:
        """Pre-check, then start the named units (all when None) and their dependencies.

        Raises:
            UnknownUnitError: an unknown unit name.
            PortConflictError: a needed host port is taken; nothing was started.
            DockerError: the engine is unreachable.
        """
        order = self.resolve(names)
        to_start = [n for n in order if not self.engine.supervisors[n].supervising]
        await self._check_ports([n for n in to_start
                                 if self.engine.status_of(n).state in _STARTABLE])
        if any(n in self.plan.containers for n in to_start):
            from neodev.docker.project import volume_credentials

            await self.project.ensure_network()
            await self.project.ensure_volumes(
                self.plan.volumes, volume_credentials(self.plan.containers.values()))
        started = await self.engine.start(order)
        self._start_watchers(started)
        return started

    def resolve(self, names: Iterable[str] | None) -> list[str]:
        """The named units (all when None or empty) and their dependencies, in start order."""
        return self.engine.resolve(self.known_units(names))

    async def stop(self, names: Iterable[str] | None) -> list[str]:
        return await self.engine.stop(self.known_units(names))

    async def act(self, name: str, action: str) -> UnitRecord:
        """One per-unit action; returns the unit's record afterwards.

        Raises:
            UnknownUnitError: no such unit.
            UnitStateError: the unit's state does not allow the action (names both).
            PortConflictError, DockerError: as for `start`.
        """
        self.check_unit(name)
        record = self.engine.status_of(name)
        supervisor = self.engine.supervisors[name]
        if action == "start":
            if supervisor.supervising:
                raise UnitStateError(name, str(record.state), action,
                                     f"{name} is already {record.state} (use restart to start "
                                     "it again)")
            await self.start([name])
        elif action == "stop":
            if not supervisor.supervising and record.state not in (UnitState.RUNNING,):
                raise UnitStateError(name, str(record.state), action,
                                     f"{name} is not running (it is {record.state})")
            await self.engine.stop([name])
        elif action == "restart":
            if not supervisor.supervising:
                await self.start([name])
            else:
                await self.engine.restart(name)
        elif action == "reload":
            if not supervisor.wanted:
                raise UnitStateError(name, str(record.state), action,
                                     f"{name} is {record.state}, not running: start it first")
            await self.engine.reload(name, [], cause="reload requested")
        else:
            raise UnitStateError(name, str(record.state), action,
                                 f"unknown action {action!r}; valid: {', '.join(ACTIONS)}")
        return self.engine.status_of(name)

    async def down(self, volumes: bool) -> DownReport:
        await self.engine.stop()
        return await self.project.down(remove_volumes=volumes, volumes=self.plan.volumes)

    # -- details --------------------------------------------------------------------------

    def details(self, name: str) -> UnitDetails:
        """Everything known about one unit: spec (secrets masked), status, start timeline."""
        from neodev.daemon.details import unit_details

        self.check_unit(name)
        return unit_details(self, name)

    def last_reload(self, name: str) -> ReloadRecord | None:
        return self.engine.status_of(name).last_reload

    # -- pre-start checks -----------------------------------------------------------------

    async def _check_ports(self, names: list[str]) -> None:
        claims = ports.plan_claims(self.plan, names)
        if not claims:
            return
        containers = any(n in self.plan.containers for n in names)
        # Containers need the engine anyway. Processes alone do not: the engine is asked (and
        # the docker SDK loaded) only to name the container holding a port found taken. (A
        # container publishing a port without a host socket, Docker's userland proxy off, is
        # then not seen: the bind check finds the port free.)
        published = await self._published_ports(required=True) if containers else {}
        verdicts = await asyncio.to_thread(ports.check_claims, claims, published,
                                           self.plan.project)
        if not containers and not all(v.ok for v in verdicts):
            published = await self._published_ports(required=False)
            if published:
                verdicts = await asyncio.to_thread(ports.check_claims, claims, published,
                                                   self.plan.project)
        taken = [v for v in verdicts if not v.ok]
        if taken:
            raise PortConflictError(
                "nothing was started:\n  " + "\n  ".join(v.message for v in taken),
                units=sorted({v.claim.unit for v in taken}))

    async def _published_ports(self, required: bool) -> ports.PublishedPorts:
        """The host ports running containers publish (any project).

        Raises:
            DockerError: the engine is unreachable and `required`.
        """
        try:
            return await self.project.host_ports_in_use()
        except DockerError:
            if required:
                raise
            return {}  # processes only: a missing engine holds no port

    # -- port references, endpoints and watchers ------------------------------------------

    def resolve_references(self, value: str) -> str:
        """`value` with `@{service:port}` replaced by the host port (published, else declared)
        and `@{process:port}` by the instance's port for the process's declared port."""
        return substitute(value, self._host_port)

    def published_port(self, unit: str, container_port: int) -> int | None:
        """The host port Docker actually published for a running container unit, if known."""
        return self._published.get((unit, container_port))

    def _host_port(self, service: str, port: int) -> str:
        if service in self.plan.processes:  # @{process:port}: the instance's port for it
            return str(host_port(self.plan, port))
        actual = self._published.get((service, port))
        if actual is not None:
            return str(actual)
        spec = self.plan.containers.get(service)
        for mapping in spec.ports if spec else ():
            if mapping.container_port == port and mapping.host_port:
                return str(mapping.host_port)
        return str(port)

    def _ports_published(self, unit: str) -> Callable[[dict[tuple[int, str], int]], None]:
        def record(found: dict[tuple[int, str], int]) -> None:
            for (container_port, _), published in found.items():
                self._published[(unit, container_port)] = published
            self.engine.set_endpoints(unit, self._endpoints(unit))
        return record

    def _endpoints(self, name: str) -> tuple[str, ...]:
        container = self.plan.containers.get(name)
        if container is not None:
            return tuple(f"{p.host_ip}:{self.published_port(name, p.container_port) or p.host_port}"
                         f"->{p.container_port}" for p in container.ports)
        process = self.plan.processes.get(name)
        if process is not None and process.port is not None:
            return (f"http://127.0.0.1:{process.port}",)
        return ()

    def _start_watchers(self, names: list[str]) -> None:
        for name in names:
            spec = self.plan.processes.get(name)
            if spec is None or spec.reload != "restart" or not spec.watch \
                    or name in self._watchers:
                continue
            watcher = FileWatcher(spec, self._reload_callback(name), on_note=functools.partial(
                self._say, name))
            self._watchers[name] = watcher
            self._spawn(self._watch(name, watcher))

    async def _watch(self, name: str, watcher: FileWatcher) -> None:
        try:
            await watcher.run()
        except NeodevError as exc:  # e.g. the cwd does not exist: said in the unit's log
            self._say(name, f"hot reload off: {exc.message}")
        except Exception as exc:  # a bug: said in the unit's log, and kept for the daemon log
            self._say(name, f"hot reload stopped: {exc!r}")
            raise

    def _say(self, name: str, text: str) -> None:
        """A line of neodev's own in the unit's log (stream `neodev`)."""
        self.logs.append(name, text, "neodev", time.time())

    def _reload_callback(self, name: str) -> Callable[[list[str]], None]:
        def on_change(files: list[str]) -> None:
            # Never block the watcher: the engine coalesces changes that arrive mid-reload,
            # and ignores them while the unit is not meant to run. The reload time counts
            # from the batch's last change (in the watcher's loop time, so taken as an age).
            watcher = self._watchers.get(name)
            seen = None
            if watcher is not None and watcher.last_change is not None:
                age = asyncio.get_running_loop().time() - watcher.last_change
                seen = self.engine.clock() - age
            self._spawn(self.engine.reload(name, files, seen_at=seen))
        return on_change
