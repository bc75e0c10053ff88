"""The engine: a plan's units driven to their desired state, observed through one event stream.

The engine is handed unit specs and their runners (built by the daemon from the drivers),
the event bus and the log store, so it knows units, never Docker or processes. Time (`clock`,
`wall`, `sleep`) is injected so the supervision logic is tested with scripted fake runners
under virtual time; the integration tests prove the same code with real containers and
processes.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping

from neodev.config.model import UnitSpec
from neodev.engine import graph
from neodev.engine.context import ChangeSignal, UnitContext
from neodev.engine.events import EventBus
from neodev.engine.logs import LogStore
from neodev.engine.reload import ReloadCoordinator
from neodev.engine.runner import Runner
from neodev.engine.supervisor import UnitSupervisor
from neodev.engine.verdicts import Readiness
from neodev.protocol.units import TimelineEntry, UnitRecord, UnitState, Verdict

ON_DEMAND_STATS_TIMEOUT = 0.5
"""Longest `sample_stats` waits for samples (a process's is a few ms; Docker's takes 1-2 s and
lands in the record after the answer)."""


class Engine:
    """Starts, stops, restarts and reloads units; publishes everything on `bus`.

    Args:
        units: Every unit of the plan, by name.
        runners: One runner per unit.
        bus: The event bus (a new one when omitted).
        logs: The log store the runners' sinks write into (a new one when omitted).
        clock, wall, sleep: Time, injected for tests.
        stats_interval: Seconds between CPU/memory samples of a running unit while a client
            watches; `idle_stats_interval` while none does.
        endpoints: Ports/URLs per unit known before anything runs.
    """

    def __init__(
        self,
        units: Mapping[str, UnitSpec],
        runners: Mapping[str, Runner],
        bus: EventBus | None = None,
        logs: LogStore | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        stats_interval: float = 2.0,
        idle_stats_interval: float = 30.0,
        endpoints: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        missing = set(units) - set(runners)
        if missing:
            raise ValueError(f"no runner for units: {', '.join(sorted(missing))}")
        self.units = dict(units)
        self.bus = bus or EventBus(wall=wall)
        self.logs = logs or LogStore(units, self.bus)
        self.clock = clock
        self.ctx = UnitContext(bus=self.bus, logs=self.logs, clock=clock, wall=wall,
                               sleep=sleep, stats_interval=stats_interval,
                               idle_stats_interval=idle_stats_interval,
                               status_of=self.status_of, changes=ChangeSignal())
        known = endpoints or {}
        self.supervisors = {name: UnitSupervisor(spec, runners[name], self.ctx,
                                                 known.get(name, ()))
                            for name, spec in units.items()}
        self.readiness = Readiness(self.units, self.ctx)
        self.reloads = ReloadCoordinator(self.supervisors, self.readiness, self.ctx)
        self._sampling: dict[str, asyncio.Task[None]] = {}
        """On-demand stats samples in flight, by unit (never two of one unit at once)."""

    # -- status ---------------------------------------------------------------------------

    def status_of(self, unit: str) -> UnitRecord:
        return self.supervisors[unit].record

    def status(self) -> list[UnitRecord]:
        return [s.record for s in self.supervisors.values()]

    def timeline(self, unit: str) -> list[TimelineEntry]:
        return list(self.supervisors[unit].timeline)

    def set_endpoints(self, unit: str, endpoints: Iterable[str]) -> None:
        """The unit's ports/URLs changed (e.g. the host port Docker actually published)."""
        self.supervisors[unit].set_endpoints(tuple(endpoints))

    async def sample_stats(self, timeout: float = ON_DEMAND_STATS_TIMEOUT) -> None:
        """Sample the CPU and memory of every running unit whose sample is missing or older
        than the stats interval; wait (at most `timeout` seconds) only for units with none.

        Samples are taken every `stats_interval` only while a client follows the event stream
        (every `idle_stats_interval` otherwise), so a status request right after a start would
        show none; the request asks for them instead. A unit that has a sample is answered
        with it at once while a new one is taken for the next request (Docker's takes 1-2 s:
        `neodev status` must not wait for it every time). A sample still running at the
        timeout lands in the record when it is done.
        """
        now = self.clock()
        unknown: list[asyncio.Task[None]] = []
        for name, supervisor in self.supervisors.items():
            record, taken = supervisor.record, supervisor.stats_at
            if record.state is not UnitState.RUNNING:
                continue
            known = taken is not None and record.cpu_percent is not None
            if taken is not None and known and now - taken < self.ctx.stats_interval:
                continue  # fresh enough
            task = self._sampling.get(name)
            if task is None:
                task = asyncio.create_task(supervisor.sample_stats(), name=f"stats:{name}")
                self._sampling[name] = task
                task.add_done_callback(functools.partial(self._sampled, name))
            if not known:
                unknown.append(task)
        if unknown:
            await asyncio.wait(unknown, timeout=timeout)

    def _sampled(self, unit: str, _: asyncio.Task[None]) -> None:
        self._sampling.pop(unit, None)

    # -- commands -------------------------------------------------------------------------

    def resolve(self, names: Iterable[str] | None) -> list[str]:
        """The named units (all when None) plus their dependencies, in start order.

        Raises:
            KeyError: naming an unknown unit.
        """
        selected = graph.with_dependencies(self.units, self.units if names is None else names)
        return [name for wave in graph.start_waves(self.units, selected) for name in wave]

    async def start(self, names: Iterable[str] | None = None) -> list[str]:
        """Start the named units and their dependencies; returns the units started.

        Each unit starts as soon as its own dependencies meet their conditions, so independent
        units start in parallel and a failed unit holds back only its dependents.
        """
        order = self.resolve(names)
        for name in order:
            self.supervisors[name].launch()
        return order

    async def stop(self, names: Iterable[str] | None = None) -> list[str]:
        """Stop the named units (all when None), dependents first, each wave in parallel."""
        selected = list(self.units if names is None else names)
        stopped: list[str] = []
        for wave in graph.stop_waves(self.units, selected):
            await asyncio.gather(*(self.supervisors[n].stop() for n in wave))
            stopped.extend(wave)
        return stopped

    async def restart(self, name: str) -> None:
        await self.supervisors[name].restart()

    async def reload(self, name: str, files: Iterable[str], seen_at: float | None = None,
                     cause: str | None = None) -> None:
        """A watched file changed (or `cause`: someone asked): rebuild (if configured) and
        restart, coalescing bursts."""
        await self.reloads.request(name, list(files), seen_at, cause)

    async def wait_ready(self, names: Iterable[str], timeout: float) -> list[Verdict]:
        """Wait until every named unit is ready, one has failed for good, or `timeout` passes."""
        return await self.readiness.wait(names, timeout)
