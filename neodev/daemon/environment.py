"""The running environment: a plan wired to drivers and the engine.

This is the composition root and the only place that knows both the engine and the drivers:
it builds a `ContainerRunner` per compose service and a `ProcessRunner` per local process,
hands them to the `Engine`, starts file watchers for hot reload, resolves `@{service:port}`
references in process environments from the ports Docker actually published, and checks host
ports before anything starts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from typing import Any

from neodev import ports
from neodev.config.display import mask_text, secret_values
from neodev.config.model import ContainerSpec, EnvironmentPlan, ProcessSpec
from neodev.config.references import has_references, substitute
from neodev.daemon.cluster_ops import ClusterOperations
from neodev.docker.client import ClientFactory
from neodev.docker.project import DockerProject
from neodev.docker.runner import ContainerRunner
from neodev.engine.events import EventBus, StateChanged, UnitState
from neodev.engine.runner import LogSink, Runner
from neodev.engine.supervisor import Engine
from neodev.errors import ConfigError, DockerError, NeodevError
from neodev.paths import WorkspacePaths
from neodev.process.pids import PidRegistry, reap_orphans
from neodev.process.runner import ProcessRunner
from neodev.process.watcher import FileWatcher


class PortConflictError(NeodevError):
    """A host port the environment needs is taken; nothing was started."""

    title = "Host port already in use"
    exit_code = 3


class Environment:
    """One workspace's units under supervision, for the daemon's API."""

    def __init__(self, plan: EnvironmentPlan, paths: WorkspacePaths,
                 clients: ClientFactory | None = None) -> None:
        self.plan = plan
        self.paths = paths
        self.bus = EventBus()
        self.clients = clients or ClientFactory()
        self.project = DockerProject(plan.project, self.clients)
        self.pids = PidRegistry(paths.pids_file)
        self._published: dict[tuple[str, int], int] = {}
        self._watchers: list[FileWatcher] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self.reaped: list[str] = []
        self._secrets = secret_values(plan)
        runners: dict[str, Runner] = {}
        for name, container in plan.containers.items():
            runners[name] = ContainerRunner(container, plan.project, plan.network,
                                            self._sink(name), self.clients)
        for name, process in plan.processes.items():
            runners[name] = ProcessRunner(process, self._sink(name), paths.logs_dir, self.pids,
                                          env_overrides=self._env_resolver(process))
        self.engine = Engine(plan.units, runners, self.bus)
        self._engine_sinks = {name: self.engine.log_sink(name) for name in plan.units}
        self.cluster = ClusterOperations(paths, self.bus)

    def _sink(self, unit: str) -> LogSink:
        # Runners exist before the engine that publishes their lines: look it up at call time.
        # Known secret values (and URL passwords) are masked before a line reaches any output:
        # apps print their connection strings more often than one would like.
        def sink(line: str, stream: str, ts: float) -> None:
            self._engine_sinks[unit](mask_text(line, self._secrets), stream, ts)
        return sink

    # -- lifecycle ------------------------------------------------------------------------

    async def open(self) -> None:
        """Clean up after a daemon that died, and follow container ports as units start."""
        self.reaped = await asyncio.to_thread(reap_orphans, self.pids)
        self._spawn(self._follow_published_ports())

    async def close(self) -> None:
        for watcher in self._watchers:
            await watcher.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.clients.close()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- commands -------------------------------------------------------------------------

    async def start(self, names: Iterable[str] | None) -> list[str]:
        """Pre-check, then start the named units (all when None) and their dependencies.

        Raises:
            ConfigError: an unknown unit name.
            PortConflictError: a needed host port is taken; nothing was started.
            DockerError: the engine is unreachable.
        """
        order = self.resolve(names)
        to_start = [n for n in order if self.engine.status_of(n).state in _STARTABLE]
        await self._check_ports(to_start)
        if any(n in self.plan.containers for n in to_start):
            await self.project.ensure_network()
            await self.project.ensure_volumes(self.plan.volumes)
        started = await self.engine.start(order)
        self._start_watchers(started)
        return started

    def resolve(self, names: Iterable[str] | None) -> list[str]:
        """The named units (all when None or empty) and their dependencies, in start order.

        Raises:
            ConfigError: an unknown unit name.
        """
        return self.engine.resolve(self.known_units(names))

    async def stop(self, names: Iterable[str] | None) -> list[str]:
        return await self.engine.stop(self.known_units(names))

    def known_units(self, names: Iterable[str] | None) -> list[str] | None:
        """The names, checked against the plan (None when none were given).

        Raises:
            ConfigError: naming the first unknown unit and the valid ones.
        """
        if not names:
            return None
        names = list(names)
        unknown = [n for n in names if n not in self.plan.units]
        if unknown:
            raise ConfigError(f"unknown service {unknown[0]!r}; valid services: "
                              f"{', '.join(sorted(self.plan.units))}",
                              file=str(self.plan.profile_file))
        return names

    async def restart(self, name: str) -> None:
        self.known_units([name])
        if self.engine.status_of(name).state in _STARTABLE:
            await self.start([name])
        else:
            await self.engine.restart(name)

    async def down(self, volumes: bool) -> dict[str, Any]:
        await self.engine.stop()
        report = await self.project.down(remove_volumes=volumes)
        return {"containers": list(report.containers), "network": report.network,
                "volumes": list(report.volumes), "problems": list(report.problems)}

    # -- pre-start checks -----------------------------------------------------------------

    async def _check_ports(self, names: list[str]) -> None:
        claims = ports.plan_claims(self.plan, names)
        if not claims:
            return
        try:
            published = await self.project.published_ports()
        except DockerError:
            if any(n in self.plan.containers for n in names):
                raise
            published = {}  # processes only: a missing engine holds no port
        verdicts = await asyncio.to_thread(ports.check_claims, claims, published,
                                           self.plan.project)
        problems = [v.message for v in verdicts if not v.ok]
        if problems:
            raise PortConflictError("nothing was started:\n  " + "\n  ".join(problems))

    # -- port references and watchers -----------------------------------------------------

    def _env_resolver(self, spec: ProcessSpec) -> Callable[[], dict[str, str]]:
        def resolve() -> dict[str, str]:
            return {key: substitute(value, self._host_port)
                    for key, value in spec.env.items() if has_references(value)}
        return resolve

    def published_port(self, unit: str, container_port: int) -> int | None:
        """The host port Docker actually published for a running container unit, if known."""
        return self._published.get((unit, container_port))

    def _host_port(self, service: str, port: int) -> str:
        actual = self._published.get((service, port))
        if actual is not None:
            return str(actual)
        spec: ContainerSpec | None = self.plan.containers.get(service)
        for mapping in spec.ports if spec else ():
            if mapping.container_port == port and mapping.host_port:
                return str(mapping.host_port)
        return str(port)

    async def _follow_published_ports(self) -> None:
        sub = self.bus.subscribe()
        async for event in sub:
            if not (isinstance(event, StateChanged) and event.state is UnitState.RUNNING):
                continue
            spec = self.plan.containers.get(event.unit)
            if spec is None:
                continue
            for mapping in spec.ports:
                with contextlib.suppress(DockerError):
                    actual = await self.project.published_port(spec.service,
                                                               mapping.container_port,
                                                               mapping.protocol)
                    if actual is not None:
                        self._published[(event.unit, mapping.container_port)] = actual

    def _start_watchers(self, names: list[str]) -> None:
        watched = {w.spec.name for w in self._watchers}
        for name in names:
            spec = self.plan.processes.get(name)
            if spec is None or spec.reload != "restart" or not spec.watch or name in watched:
                continue
            watcher = FileWatcher(spec, self._reload_callback(name))
            self._watchers.append(watcher)
            self._spawn(watcher.run())

    def _reload_callback(self, name: str) -> Callable[[list[str]], None]:
        def on_change(files: list[str]) -> None:
            # Never block the watcher: the engine coalesces changes that arrive mid-reload.
            self._spawn(self.engine.reload(name, files))
        return on_change


_STARTABLE = frozenset({UnitState.PENDING, UnitState.STOPPED, UnitState.EXITED,
                        UnitState.CRASHED})
