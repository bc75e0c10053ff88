"""The engine: a plan's units driven to their desired state, observed through one event stream.

The engine is handed unit specs and their runners (built by the daemon from the drivers), so it
knows units, never Docker or processes. Time (`clock`, `wall`, `sleep`) is injected so the
supervision logic is tested with scripted fake runners; the integration tests prove the same
code with real containers and processes.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import replace

from neodev.config.model import Dependency, UnitSpec
from neodev.engine import graph
from neodev.engine.events import Event, EventBus, LogLine, StatsSample, UnitState
from neodev.engine.reload import ReloadCoordinator
from neodev.engine.runner import LogSink, Runner
from neodev.engine.status import ReadyVerdict, UnitStatus
from neodev.engine.unit import CRASH_LOOP_FAILURES, UnitSupervisor, condition_met

LOG_RING_SIZE = 5_000
"""Lines kept per unit for `logs -n` and error reports; older lines live in the log files."""


class Engine:
    """Starts, stops, restarts and reloads units; publishes everything on `bus`."""

    def __init__(
        self,
        units: Mapping[str, UnitSpec],
        runners: Mapping[str, Runner],
        bus: EventBus | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        stats_interval: float = 2.0,
    ) -> None:
        missing = set(units) - set(runners)
        if missing:
            raise ValueError(f"no runner for units: {', '.join(sorted(missing))}")
        self.units = dict(units)
        self.bus = bus or EventBus()
        self.clock = clock
        self.wall = wall
        self.sleep = sleep
        self.stats_interval = stats_interval
        self._changed = asyncio.Event()
        self._logs: dict[str, deque[LogLine]] = {n: deque(maxlen=LOG_RING_SIZE) for n in units}
        self.supervisors = {name: UnitSupervisor(spec, runners[name], self)
                            for name, spec in units.items()}
        self.reloads = ReloadCoordinator(self)

    # -- events ---------------------------------------------------------------------------

    def publish(self, event: Event) -> None:
        """Publish an event; a status change also wakes everything waiting for one."""
        self.bus.publish(event)
        if isinstance(event, LogLine):
            self._logs[event.unit].append(event)
        elif not isinstance(event, StatsSample):  # output and samples change no status
            self._changed.set()
            self._changed = asyncio.Event()

    async def wait_for_change(self) -> None:
        await self._changed.wait()

    def log_sink(self, unit: str) -> LogSink:
        """The callback a driver gives each output line of `unit` to."""
        def sink(line: str, stream: str, ts: float) -> None:
            self.publish(LogLine(unit, line=line, stream=stream, ts=ts))
        return sink

    def recent_logs(self, unit: str, n: int | None = None, since: float | None = None
                    ) -> list[LogLine]:
        lines = [e for e in self._logs[unit] if since is None or e.ts >= since]
        return lines if n is None else lines[-n:] if n > 0 else []

    # -- status ---------------------------------------------------------------------------

    def status_of(self, unit: str) -> UnitStatus:
        return self.supervisors[unit].status

    def status(self) -> list[UnitStatus]:
        return [s.status for s in self.supervisors.values()]

    def dependency_met(self, dep: Dependency) -> bool:
        return condition_met(dep.condition, self.status_of(dep.service))

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

    async def reload(self, name: str, files: Iterable[str], seen_at: float | None = None) -> None:
        """A watched file changed: rebuild (if configured) and restart, coalescing bursts."""
        await self.reloads.request(name, list(files), seen_at)

    async def wait_ready(self, names: Iterable[str], timeout: float) -> list[ReadyVerdict]:
        """Wait until every named unit is ready, one has failed for good, or `timeout` passes.

        A failed unit does not end the wait for the others early: the wait ends when each unit
        has a verdict, so the report says exactly what is up and what is not.
        """
        pending = set(names)
        deadline = self.clock() + timeout
        verdicts: dict[str, ReadyVerdict] = {}
        while pending:
            for name in list(pending):
                verdict = self._verdict(name)
                if verdict is not None:
                    verdicts[name] = verdict
                    pending.discard(name)
            remaining = deadline - self.clock()
            if not pending or remaining <= 0:
                break
            change = asyncio.ensure_future(self.wait_for_change())
            done, _ = await asyncio.wait({change}, timeout=min(remaining, 1.0))
            if not done:
                change.cancel()
        for name in pending:
            verdicts[name] = self._verdict(name) or self._timeout_verdict(name, timeout)
        return [verdicts[n] for n in sorted(verdicts)]

    def _verdict(self, name: str) -> ReadyVerdict | None:
        """The unit's verdict if it has one yet: ready, or failed for good; None while open."""
        status = self.status_of(name)
        spec = self.units[name]
        if status.ready:
            return self._make_verdict(status, ok=True)
        if status.state is UnitState.EXITED and status.exit_code == 0 and \
                spec.restart.value != "always":
            return self._make_verdict(status, ok=True)
        failing = status.state in (UnitState.CRASHED, UnitState.BACKOFF)
        failed_for_good = (
            (status.state is UnitState.CRASHED and spec.restart.value == "no")
            or (status.state is UnitState.RUNNING and status.health.value == "unhealthy")
            # The restart policy keeps trying in the background, but a wait gives up at once
            # on what will not fix itself soon: a unit that cannot even start, or a crash loop.
            or (failing and (status.start_failed or status.failures >= CRASH_LOOP_FAILURES))
        )
        if failed_for_good:
            return self._make_verdict(status, ok=False)
        blocker = self._failed_dependency(name)
        if blocker is not None:
            return replace(self._make_verdict(status, ok=False), last_logs=(),
                           reason=f"not started: it needs {blocker.unit}, which failed: "
                                  f"{blocker.reason}")
        return None

    def _failed_dependency(self, name: str) -> ReadyVerdict | None:
        """The verdict of a dependency that failed for good while `name` waits for it."""
        if self.status_of(name).state is not UnitState.PENDING:
            return None
        for dep in self.units[name].depends_on:
            if self.dependency_met(dep):
                continue
            verdict = self._verdict(dep.service)
            if verdict is not None and not verdict.ok:
                return verdict
        return None

    def _timeout_verdict(self, name: str, timeout: float) -> ReadyVerdict:
        verdict = self._make_verdict(self.status_of(name), ok=False)
        return replace(verdict, reason=f"not ready after {timeout:.0f}s: {verdict.reason}")

    def _make_verdict(self, status: UnitStatus, *, ok: bool) -> ReadyVerdict:
        reason = status.reason
        if status.health.value == "unhealthy":
            reason = f"unhealthy: {status.health_detail}".strip()
        elif status.state is UnitState.RUNNING and status.health.value == "starting":
            reason = f"health check still starting: {status.health_detail}".strip(": ")
        tail = () if ok else tuple(e.line for e in self.recent_logs(status.name, 10))
        return ReadyVerdict(unit=status.name, ok=ok, state=str(status.state),
                            health=str(status.health), reason=reason, last_logs=tail)
