"""One unit's lifecycle: the state machine every container and process goes through.

    pending -> starting -> running(healthy|unhealthy) -> stopping -> stopped
    running -> exited(code) | crashed -> backoff -> starting

A `UnitSupervisor` owns one asyncio task per run of its unit. It waits for the unit's
dependencies, starts it through its `Runner`, watches health and resource use while it runs,
and applies the restart policy with exponential backoff when it ends. It never talks to Docker
or the OS itself; the runner does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from neodev.config.model import DependencyCondition, RestartPolicy, UnitSpec
from neodev.engine.events import (
    Health,
    HealthChanged,
    StateChanged,
    StatsSample,
    UnitState,
)
from neodev.engine.runner import Runner
from neodev.engine.status import UnitStatus
from neodev.errors import NeodevError

if TYPE_CHECKING:
    from neodev.engine.supervisor import Engine

DOCKER_HEALTH_POLL = 0.2
"""Docker evaluates its own healthcheck; reading its verdict costs one inspect call. Polled
this often only until healthy (STEADY_HEALTH_POLL after), since every dependent and
`start --wait` waits on that moment."""
CRASH_LOOP_FAILURES = 3
"""Consecutive failures from which a unit is shown as crash-looping (and `--wait` gives up)."""
STEADY_HEALTH_POLL = 5.0
"""Once healthy, a unit is checked at most this often: readiness is what `start --wait` and
dependents wait for, so it is polled fast while starting; afterwards losing health is noticed
within seconds at a fraction of the cost (the daemon's idle CPU)."""


class UnitSupervisor:
    """Drives one unit to its desired state and keeps its `UnitStatus` true."""

    def __init__(self, spec: UnitSpec, runner: Runner, engine: Engine) -> None:
        self.spec = spec
        self.runner = runner
        self.engine = engine
        self.status = UnitStatus(name=spec.name, kind=str(spec.kind))
        self._task: asyncio.Task[None] | None = None
        self._stop_requested = False
        self._restart_requested = False
        self._wake = asyncio.Event()
        self._runner_stopped = asyncio.Event()
        """Set while no `runner.stop()` is in flight: a restart waits for it before starting,
        so a driver never has a stop and a start of the same unit running at once."""
        self._runner_stopped.set()
        self._run_started: float | None = None

    # -- commands -------------------------------------------------------------------------

    def launch(self) -> None:
        """Start supervising (no-op while already supervising)."""
        if self._task is not None and not self._task.done():
            self._stop_requested = False
            self._wake.set()
            return
        self._stop_requested = False
        self._restart_requested = False
        self.status.failures = 0
        self._task = asyncio.create_task(self._supervise(), name=f"unit:{self.spec.name}")

    async def stop(self) -> None:
        """Stop the unit and end supervision; returns once it is stopped."""
        self._stop_requested = True
        self._wake.set()
        task = self._task
        if task is None or task.done():
            if self.status.state not in (UnitState.EXITED, UnitState.CRASHED):
                self._set_state(UnitState.STOPPED, reason="stopped")
            return
        if self.status.state is UnitState.RUNNING:
            self._set_state(UnitState.STOPPING, reason="stop requested")
            await self._stop_runner()
        elif self.status.state in (UnitState.PENDING, UnitState.BACKOFF):
            task.cancel()
        # STARTING: the task notices the flag as soon as runner.start() returns.
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self._set_state(UnitState.STOPPED, reason="stopped")

    async def restart(self) -> None:
        """Stop and start again now, without backoff (a manual restart or a reload)."""
        if self._task is None or self._task.done():
            self.launch()
            return
        if self.status.state is UnitState.RUNNING:
            self._restart_requested = True
            self._set_state(UnitState.STOPPING, reason="restarting")
            await self._stop_runner()
        else:
            self.status.failures = 0
            self._wake.set()

    # -- the lifecycle loop ---------------------------------------------------------------

    async def _supervise(self) -> None:
        try:
            await self._wait_for_dependencies()
            first = True
            while not self._stop_requested:
                if not first:
                    self.status.restarts += 1
                first = False
                exit_code = await self._run_once()
                if self._stop_requested:
                    break
                if self._restart_requested:
                    await self._runner_stopped.wait()
                    self._restart_requested = False
                    continue
                if not self._should_restart(exit_code):
                    break
                await self._backoff()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must surface as a crashed unit, not a silent dead task
            self._set_state(UnitState.CRASHED, reason=f"supervisor error: {exc!r}")
            raise

    async def _run_once(self) -> int | None:
        """One run: start, watch until it exits. Returns the exit code, None if start failed."""
        self.status.exit_code = None
        self._set_state(UnitState.STARTING, reason="")
        try:
            launch = await self.runner.start()
        except NeodevError as exc:
            self.status.start_failed = True
            self.status.failures += 1
            self._set_state(UnitState.CRASHED, reason=f"failed to start: {exc.message}")
            return None
        self.status.start_failed = False
        if self._stop_requested:
            await self._stop_runner()
            return None
        self._run_started = self.engine.clock()
        self.status.started_at = self.engine.wall()
        self.status.adopted = launch.adopted
        self.status.ever_running = True
        self._set_health(Health.STARTING if self.spec.readiness else Health.NONE, "")
        self._set_state(UnitState.RUNNING, reason="adopted running container" if launch.adopted
                        else launch.detail)
        monitors = [asyncio.create_task(self._watch_health()),
                    asyncio.create_task(self._sample_stats())]
        try:
            exit_code = await self.runner.wait_exit()
        except NeodevError as exc:
            # The driver lost sight of the unit (e.g. the Docker engine went away): count it as
            # a failed run, so the restart policy applies and the next start re-adopts it.
            exit_code = None
            lost = exc.message
        finally:
            for monitor in monitors:
                monitor.cancel()
            await asyncio.gather(*monitors, return_exceptions=True)
        if exit_code is None:
            self.status.failures += 1
            self.status.started_at = None
            self._set_health(Health.NONE, "")
            self._set_state(UnitState.CRASHED, reason=f"lost track of the unit: {lost}")
            return None
        self._after_exit(exit_code)
        return exit_code

    def _after_exit(self, exit_code: int) -> None:
        uptime = self.engine.clock() - (self._run_started or self.engine.clock())
        self.status.started_at = None
        self.status.cpu_percent = None
        self.status.memory_bytes = None
        if self._stop_requested or self._restart_requested:
            self._set_health(Health.NONE, "")
            self._set_state(UnitState.STOPPED, reason="stopped", exit_code=exit_code)
            return
        if uptime >= self.spec.backoff.reset_after:
            self.status.failures = 0
        if exit_code == 0:
            self._set_state(UnitState.EXITED, reason="exited with code 0", exit_code=0)
        else:
            self.status.failures += 1
            output = [e.line for e in self.engine.recent_logs(self.spec.name, 20)
                      if e.stream != "neodev"]
            last = f"; last output: {output[-1]}" if output else ""
            self._set_state(UnitState.CRASHED, reason=f"exited with code {exit_code}{last}",
                            exit_code=exit_code)

    def _should_restart(self, exit_code: int | None) -> bool:
        policy = self.spec.restart
        if policy is RestartPolicy.ALWAYS:
            return True
        return policy is RestartPolicy.ON_FAILURE and exit_code != 0

    async def _backoff(self) -> None:
        backoff = self.spec.backoff
        failures = max(self.status.failures, 1)
        delay = min(backoff.initial * backoff.factor ** (failures - 1), backoff.maximum)
        previous = self.status.reason
        loop_note = (f"crash loop ({failures} failures in a row): "
                     if failures >= CRASH_LOOP_FAILURES else "")
        self._set_state(UnitState.BACKOFF,
                        reason=f"{loop_note}restarting in {delay:.1f}s after: {previous}",
                        exit_code=self.status.exit_code)
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=delay)

    async def _wait_for_dependencies(self) -> None:
        for dep in self.spec.depends_on:
            while not self.engine.dependency_met(dep):
                other = self.engine.status_of(dep.service)
                self.status.reason = (f"waiting for {dep.service} ({dep.condition}); "
                                      f"it is {other.state}" +
                                      (f": {other.reason}" if other.reason else ""))
                await self.engine.wait_for_change()

    # -- monitors -------------------------------------------------------------------------

    async def _watch_health(self) -> None:
        probe = self.spec.readiness
        if probe is None:
            return
        interval = DOCKER_HEALTH_POLL if probe.kind == "docker" else max(probe.interval, 0.05)
        while True:
            try:
                report = await self.runner.health()
            except NeodevError as exc:
                self._set_health(Health.UNHEALTHY, exc.message)
            else:
                self._set_health(report.health, report.detail)
            healthy = self.status.health is Health.HEALTHY
            await self.engine.sleep(max(interval, STEADY_HEALTH_POLL) if healthy else interval)

    async def _sample_stats(self) -> None:
        while True:
            await self.engine.sleep(self.engine.stats_interval)
            try:
                sample = await self.runner.stats()
            except NeodevError:
                continue  # a missed sample is not worth an error; the next one may succeed
            if sample is None:
                continue
            self.status.cpu_percent = sample.cpu_percent
            self.status.memory_bytes = sample.memory_bytes
            self.engine.publish(StatsSample(self.spec.name, cpu_percent=sample.cpu_percent,
                                            memory_bytes=sample.memory_bytes))

    async def _stop_runner(self) -> None:
        self._runner_stopped.clear()
        try:
            await self.runner.stop(self.spec.stop_grace)
        except NeodevError as exc:
            self.status.reason = f"stop failed: {exc.message}"
        finally:
            self._runner_stopped.set()

    # -- status changes -------------------------------------------------------------------

    def _set_state(self, state: UnitState, *, reason: str, exit_code: int | None = None) -> None:
        changed = (state, reason, exit_code) != (self.status.state, self.status.reason,
                                                 self.status.exit_code)
        self.status.state = state
        self.status.reason = reason
        self.status.exit_code = exit_code
        if changed:
            self.engine.publish(StateChanged(self.spec.name, state=state, reason=reason,
                                             exit_code=exit_code))

    def _set_health(self, health: Health, detail: str) -> None:
        if (health, detail) == (self.status.health, self.status.health_detail):
            return
        self.status.health = health
        self.status.health_detail = detail
        self.engine.publish(HealthChanged(self.spec.name, health=health, detail=detail))


def condition_met(condition: DependencyCondition, status: UnitStatus) -> bool:
    """Whether a dependency in `status` satisfies `condition`."""
    if condition is DependencyCondition.STARTED:
        return status.state is UnitState.RUNNING
    if condition is DependencyCondition.HEALTHY:
        return status.ready
    return status.state is UnitState.EXITED and status.exit_code == 0


SleepFn = Callable[[float], Awaitable[None]]
