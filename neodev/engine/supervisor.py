"""One unit's lifecycle: the state machine every container and process goes through.

    pending -> starting -> running(healthy|unhealthy) -> stopping -> stopped
    running -> exited(code) | crashed -> backoff -> starting
    starting -> unavailable -> starting   (an image that cannot be had: when asked, or when
                                           it appears; never on the backoff)

A `UnitSupervisor` owns one asyncio task per supervision of its unit. It waits for the unit's
dependencies, starts it through its `Runner`, watches readiness, liveness and resource use
while it runs, and applies the restart policy with exponential backoff when it ends. Its status
record changes only through `_update`, which publishes the whole new record: the event stream
and `status` can never disagree. It never talks to Docker or the OS itself; the runner does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass, replace
from typing import Any

from neodev.config.model import RestartPolicy, UnitSpec
from neodev.engine.context import UnitContext
from neodev.engine.problems import problem_of
from neodev.engine.runner import HealthReport, Runner
from neodev.engine.verdicts import CRASH_LOOP_FAILURES
from neodev.engine.waits import Waiting, until_available, wait_for_dependencies
from neodev.errors import EngineUnreachable, NeodevError
from neodev.protocol.units import Health, TimelineEntry, UnitRecord, UnitState
from neodev.timing import Backoff, sleep_unless

FAST_HEALTH_PHASE = 1.0
"""Seconds after a start during which readiness is checked at the runner's
`first_health_poll`, then at doubling pauses up to its `health_poll`: most apps answer within a
second, and a schedule doubling from the start left up to half the elapsed time between the
app answering and the unit reported ready."""
STEADY_HEALTH_POLL = 5.0
"""Once healthy, a unit is checked at most this often: readiness is what `start --wait` and
dependents wait for, so it is polled fast while starting; afterwards losing health is noticed
within seconds at a fraction of the cost (the daemon's idle CPU)."""
SETTLE_SECONDS = 1.0
"""A unit without a readiness check counts as ready once it stayed up this long, so a process
that dies at once is a failure, not "ok"."""
OUTAGE_RETRY = Backoff(first=1.0, cap=10.0)
"""Pauses between attempts while the Docker engine is unreachable."""
TIMELINE_ENTRIES = 50


@dataclass(frozen=True)
class _RunEnd:
    """How one run ended."""

    exit_code: int | None = None
    """The unit's exit code; None when it never ran or was lost."""
    outage: str | None = None
    """Set when the unit's engine (Docker) was unreachable: not the unit's fault."""
    unavailable: bool = False  # the start failed on what cannot be had: no restart loop


class UnitSupervisor:
    """Drives one unit to its desired state and keeps its status record true."""

    def __init__(self, spec: UnitSpec, runner: Runner, ctx: UnitContext,
                 endpoints: tuple[str, ...] = ()) -> None:
        self.spec = spec
        self.runner = runner
        self._ctx = ctx
        self.record = UnitRecord(name=spec.name, kind=str(spec.kind), endpoints=endpoints)
        self.timeline: deque[TimelineEntry] = deque(maxlen=TIMELINE_ENTRIES)
        self._task: asyncio.Task[None] | None = None
        self._stop_requested = False
        self._restart_requested = False
        self._liveness_failure: str | None = None
        self._last_failure = ""
        self._run_detail = ""
        self._settled = False
        self._outages = 0
        self._wake = asyncio.Event()
        self._runner_stopped = asyncio.Event()
        """Set while no `runner.stop()` is in flight: a restart waits for it before starting,
        so a driver never has a stop and a start of the same unit running at once."""
        self._runner_stopped.set()
        self._run_started: float | None = None
        self._runs = 0
        self.last_exit_code: int | None = None
        self.stats_at: float | None = None  # clock time of the latest CPU/memory sample

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def wanted(self) -> bool:
        """Whether the unit is meant to run (launched and not stopped since)."""
        return self.record.desired == "running"

    @property
    def supervising(self) -> bool:
        return self._task is not None and not self._task.done()

    # -- commands -------------------------------------------------------------------------

    def launch(self) -> None:
        """Start supervising (no-op while already supervising)."""
        self._stop_requested = False
        self._update(desired="running")
        if self.supervising:
            self._wake.set()
            return
        self._restart_requested = False
        self._update(failures=0, crash_loop=False)
        self.timeline.clear()
        self._task = asyncio.create_task(self._supervise(), name=f"unit:{self.spec.name}")

    async def stop(self) -> None:
        """Stop the unit and end supervision; returns once it is stopped."""
        self._stop_requested = True
        self._update(desired="stopped")
        self._wake.set()
        task = self._task
        if task is None or task.done():
            if self.record.state not in (UnitState.EXITED, UnitState.CRASHED):
                self._update(state=UnitState.STOPPED, reason="stopped")
            return
        if self.record.state is UnitState.RUNNING:
            self._update(state=UnitState.STOPPING, reason="stop requested")
            await self._stop_runner()
        elif self.record.state in (UnitState.PENDING, UnitState.BACKOFF, UnitState.UNAVAILABLE):
            task.cancel()
        # STARTING: the task notices the flag as soon as runner.start() returns.
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self._update(state=UnitState.STOPPED, reason="stopped", health=Health.NONE,
                     health_detail="", started_at=None, cpu_percent=None, memory_bytes=None,
                     unavailable="", skipped_by="")

    async def restart(self) -> None:
        """Stop and start again now, without backoff (a manual restart or a reload)."""
        if not self.supervising:
            self.launch()
            return
        if self.record.state is UnitState.RUNNING:
            runs = self._runs
            self._restart_requested = True
            self._update(state=UnitState.STOPPING, reason="restarting")
            await self._stop_runner()
            # Return once the next run has begun, so the caller sees the unit starting again.
            while self._runs == runs and self.supervising:
                await self._ctx.changes.wait()
        else:
            self._update(failures=0, crash_loop=False)
            self._wake.set()

    def set_endpoints(self, endpoints: tuple[str, ...]) -> None:
        self._update(endpoints=endpoints)

    def set_last_reload(self, reload: Any) -> None:
        self._update(last_reload=reload)

    # -- the lifecycle loop ---------------------------------------------------------------

    async def _supervise(self) -> None:
        try:
            await wait_for_dependencies(self.spec, self._ctx, self._say_waiting, self._note)
            first = True
            while not self._stop_requested:
                end = await self._run_once(again=not first)
                first = False
                if self._stop_requested:
                    break
                if self._restart_requested:
                    await self._runner_stopped.wait()
                    self._restart_requested = False
                    continue
                if end.outage is not None:
                    await self._wait_out_outage(end.outage)
                    first = True  # nothing restarted: the engine went away, not the unit
                    continue
                if end.unavailable:
                    if await until_available(self.runner, self._wake, lambda: self._stop_requested,
                                             self._ctx.sleep, STEADY_HEALTH_POLL):
                        self._note("available", self.record.unavailable)
                    first = True  # nothing ran: the next start is not a restart
                    continue
                if not self._should_restart(end.exit_code):
                    break
                await self._backoff()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must surface as a crashed unit, not a silent dead task
            self._update(state=UnitState.CRASHED, reason=f"supervisor error: {exc!r}")
            raise

    async def _run_once(self, again: bool) -> _RunEnd:
        """One run: start, watch until it exits. `again`: after an earlier run of this
        supervision, so it counts as a restart — taken back when the start adopts the unit
        still running (it never stopped)."""
        self._settled = False
        self._runs += 1
        reason = self._crash_loop_note("starting again") if self.record.crash_loop else ""
        self._update(state=UnitState.STARTING, reason=reason, exit_code=None, unavailable="",
                     skipped_by="", restarts=self.record.restarts + again)
        self._note("starting")
        try:
            launch = await self.runner.start(self._progress)
        except EngineUnreachable as exc:
            return _RunEnd(outage=exc.message)
        except NeodevError as exc:
            if exc.unavailable:  # it cannot succeed until something outside changes
                self._update(state=UnitState.UNAVAILABLE, reason=f"unavailable: {exc.message}",
                             unavailable=exc.missing, start_failed=True,
                             start_failure=exc.start_failure)
                self._note("unavailable", exc.message)
                return _RunEnd(unavailable=True)
            self._fail(f"failed to start: {exc.message}", start_failure=exc.start_failure)
            self._note("failed to start", exc.message)
            return _RunEnd()
        self._outages = 0
        if self._stop_requested:
            await self._stop_runner()
            return _RunEnd()
        self._run_started = self._ctx.clock()
        detail = "adopted running container" if launch.adopted else launch.detail
        self._run_detail = detail
        reason = self._crash_loop_note(detail) if self.record.crash_loop else detail
        restarts = self.record.restarts - (again and launch.adopted)
        self._update(state=UnitState.RUNNING, reason=reason, started_at=self._ctx.wall(),
                     adopted=launch.adopted, start_failed=False, start_failure="",
                     restarts=restarts,
                     health=Health.STARTING if self.spec.readiness else Health.NONE,
                     health_detail="")
        self._note("running", detail)
        monitors = [asyncio.create_task(self._watch_health()),
                    asyncio.create_task(self._watch_liveness()),
                    asyncio.create_task(self._settle_and_stabilise()),
                    asyncio.create_task(self._sample_stats())]
        lost: str | None = None
        outage: str | None = None
        try:
            exit_code: int | None = await self.runner.wait_exit()
        except EngineUnreachable as exc:
            exit_code, outage = None, exc.message
        except NeodevError as exc:
            # The driver lost sight of the unit: count it as a failed run, so the restart
            # policy applies and the next start re-adopts it.
            exit_code, lost = None, exc.message
        finally:
            for monitor in monitors:
                monitor.cancel()
            await asyncio.gather(*monitors, return_exceptions=True)
        self._update(started_at=None, cpu_percent=None, memory_bytes=None,
                     health=Health.NONE, health_detail="")
        if outage is not None:
            return _RunEnd(outage=outage)
        if exit_code is None:
            self._fail(f"lost track of the unit: {lost}")
            return _RunEnd()
        self._after_exit(exit_code)
        return _RunEnd(exit_code=exit_code)

    def _after_exit(self, exit_code: int) -> None:
        self.last_exit_code = exit_code
        if self._liveness_failure is not None:
            why, self._liveness_failure = self._liveness_failure, None
            self._fail(f"restarted: liveness probe failed: {why}", exit_code=exit_code)
            return
        if self._stop_requested or self._restart_requested:
            self._update(state=UnitState.STOPPED, reason="stopped", exit_code=exit_code)
            return
        if exit_code == 0:
            self._update(state=UnitState.EXITED, reason="exited with code 0", exit_code=0)
            self._note("exited", "code 0")
            return
        output = [r.line for r in self._ctx.logs.tail(self.spec.name, 20)
                  if r.stream != "neodev"]
        last = f"; last output: {output[-1]}" if output else ""
        self._fail(f"exited with code {exit_code}{last}", exit_code=exit_code)
        self._note("exited", f"code {exit_code}")

    def _fail(self, reason: str, *, exit_code: int | None = None,
              start_failure: str = "") -> None:
        """A failed run: count it, and show a crash loop once there are enough in a row."""
        failures = self.record.failures + 1
        self._last_failure = reason
        crash_loop = failures >= CRASH_LOOP_FAILURES
        if crash_loop:
            reason = self._crash_loop_note("", failures)
        self._update(state=UnitState.CRASHED, reason=reason, exit_code=exit_code,
                     failures=failures, crash_loop=crash_loop,
                     start_failed=bool(start_failure), start_failure=start_failure)

    def _crash_loop_note(self, now: str, failures: int | None = None) -> str:
        count = failures if failures is not None else self.record.failures
        note = f"crash loop ({count} failures in a row; last: {self._last_failure})"
        return f"{note}; {now}" if now else note

    def _should_restart(self, exit_code: int | None) -> bool:
        policy = self.spec.restart
        if policy is RestartPolicy.ALWAYS:
            return True
        return policy is RestartPolicy.ON_FAILURE and exit_code != 0

    async def _backoff(self) -> None:
        policy = self.spec.backoff
        schedule = Backoff(first=policy.initial, cap=policy.maximum, factor=policy.factor)
        delay = schedule.delay(self.record.failures - 1)
        if self.record.crash_loop:
            reason = self._crash_loop_note(f"restarting in {delay:.1f}s")
        else:
            reason = f"restarting in {delay:.1f}s after: {self.record.reason}"
        self._update(state=UnitState.BACKOFF, reason=reason)
        await self._pause(delay)

    async def _wait_out_outage(self, why: str) -> None:
        """The engine is gone, not the unit: say so, and try again without counting a failure."""
        delay = OUTAGE_RETRY.delay(self._outages)
        self._outages += 1
        self._update(state=UnitState.BACKOFF, reason=f"Docker engine unreachable, retrying in "
                     f"{delay:.0f}s: {why}", health=Health.NONE, health_detail="",
                     engine_outage=True)
        await self._pause(delay)

    async def _pause(self, delay: float) -> None:
        """Sleep up to `delay`, or until woken (a manual restart or stop)."""
        self._wake.clear()
        await sleep_unless(self._wake, delay, self._ctx.sleep)

    def _say_waiting(self, waiting: Waiting) -> None:
        if waiting.skipped_by and waiting.skipped_by != self.record.skipped_by:
            self._note("skipped", waiting.reason)
        self._update(reason=waiting.reason, unavailable=waiting.unavailable,
                     skipped_by=waiting.skipped_by)

    # -- monitors -------------------------------------------------------------------------

    async def _watch_health(self) -> None:
        if self.spec.readiness is None:
            return
        pacing = Backoff(first=self.runner.first_health_poll, cap=self.runner.health_poll)
        slowdowns = 0
        fast_until = self._ctx.clock() + FAST_HEALTH_PHASE
        while True:
            try:
                report = await self.runner.health()
            except NeodevError as exc:
                report = HealthReport(Health.UNHEALTHY, exc.message)
            was_ready = self.record.ready
            self._update(health=report.health, health_detail=report.detail)
            if self.record.ready and not was_ready:
                self._note("ready", report.detail)
            if report.health is Health.HEALTHY:
                await self._ctx.sleep(max(self.runner.health_poll, STEADY_HEALTH_POLL))
            else:
                await self._ctx.sleep(pacing.delay(slowdowns))
                if self._ctx.clock() >= fast_until:
                    slowdowns += 1

    async def _watch_liveness(self) -> None:
        probe = self.spec.liveness
        if probe is None:
            return
        while not self.record.ready:  # Kubernetes semantics: liveness counts after readiness
            await self._ctx.changes.wait()
        while True:
            await self._ctx.sleep(probe.interval)
            report = await self.runner.liveness()
            if report is not None and report.health is Health.UNHEALTHY:
                self._liveness_failure = report.detail
                self._update(state=UnitState.STOPPING,
                             reason=f"liveness probe failed: {report.detail}; restarting")
                await self._stop_runner()
                return

    async def _settle_and_stabilise(self) -> None:
        """Ready without a probe after SETTLE_SECONDS; failures forgiven after a stable run."""
        await self._ctx.sleep(SETTLE_SECONDS)
        self._settled = True
        self._update()
        if self.spec.readiness is None:
            self._note("ready", f"up for {SETTLE_SECONDS:g}s")
        stable_after = max(self.spec.backoff.reset_after - SETTLE_SECONDS, 0.0)
        await self._ctx.sleep(stable_after)
        if self.record.failures or self.record.crash_loop:
            reason = self._run_detail if self.record.crash_loop else self.record.reason
            self._update(failures=0, crash_loop=False, reason=reason)

    async def _sample_stats(self) -> None:
        while True:
            await self._ctx.until_next_sample()
            await self.sample_stats()

    async def sample_stats(self) -> None:
        """One CPU/memory sample of the current run, now (also `Engine.sample_stats`)."""
        run = self._runs
        try:
            sample = await self.runner.stats()
        except NeodevError:
            return  # a missed sample is not worth an error; the next one may succeed
        if run == self._runs and self.record.state is UnitState.RUNNING:  # still that run
            self.stats_at = self._ctx.clock()
            if sample is not None:
                self._update(cpu_percent=sample.cpu_percent, memory_bytes=sample.memory_bytes)

    async def _stop_runner(self) -> None:
        self._runner_stopped.clear()
        try:
            await self.runner.stop(self.spec.stop_grace)
        except NeodevError as exc:
            self._update(reason=f"stop failed: {exc.message}")
        finally:
            self._runner_stopped.set()

    # -- the record -----------------------------------------------------------------------

    def _update(self, **changes: Any) -> None:
        """Change the status record and publish the whole new record when anything changed."""
        for key in ("reason", "health_detail"):  # they may quote output: mask like output
            if key in changes:
                changes[key] = self._ctx.logs.mask(changes[key])
        new = replace(self.record, **changes)
        ready = new.state is UnitState.RUNNING and (
            new.health is Health.HEALTHY
            or (new.health is Health.NONE and self.spec.readiness is None and self._settled))
        outage = new.engine_outage and new.state is UnitState.BACKOFF
        problem = problem_of(replace(new, ready=ready))
        if (ready, outage, problem) != (new.ready, new.engine_outage, new.problem):
            new = replace(new, ready=ready, engine_outage=outage, problem=problem)
        if new == self.record:
            return
        old, self.record = self.record, new
        changed = tuple(name for name in UNIT_FIELDS if getattr(old, name) != getattr(new, name))
        self._ctx.publish_status(new, changed)

    def _progress(self, step: str) -> None:
        """The runner says what the start is doing (pulling, creating...)."""
        if self.record.state is UnitState.STARTING:
            note = self._crash_loop_note(step) if self.record.crash_loop else step
            self._update(reason=note)
            self._note(step)

    def _note(self, what: str, detail: str = "") -> None:
        """A step of the start timeline; its detail may quote output, masked like output."""
        self.timeline.append(TimelineEntry(self._ctx.wall(), what, self._ctx.logs.mask(detail)))


UNIT_FIELDS = tuple(UnitRecord.__dataclass_fields__)
