"""The engine's state machine, dependency order, restart policy, probes and reload coalescing.

Scripted fake runners under virtual time (vclock.py): the engine's clock and every timer are
the loop's virtual clock, so backoffs of seconds take no real time and every run is exactly
reproducible.
"""

from __future__ import annotations

import asyncio
import re

import pytest

from neodev.config.model import (
    Backoff,
    Dependency,
    DependencyCondition,
    Probe,
    RestartPolicy,
    UnitKind,
    UnitSpec,
)
from neodev.engine.engine import Engine
from neodev.engine.events import Subscription
from neodev.engine.supervisor import SETTLE_SECONDS
from neodev.protocol import Health, ReloadPhase, UnitChanged, UnitRecord, UnitState, fold
from tests.supervisor.fakes import FAST_BACKOFF, READY, FakeRunner, Run
from tests.supervisor.vclock import VirtualTimeLoop, virtual_time
from tests.waiting import until_async

FAST = FAST_BACKOFF
LIVE = Probe(kind="tcp", port=1, interval=1.0, retries=3)
HEALTHY = DependencyCondition.HEALTHY
STARTED = DependencyCondition.STARTED


def unit(name: str, *deps: tuple[str, DependencyCondition], restart: str = "no",
         readiness: Probe | None = READY, liveness: Probe | None = None,
         backoff: Backoff = FAST) -> UnitSpec:
    return UnitSpec(name=name, kind=UnitKind.PROCESS, restart=RestartPolicy(restart),
                    backoff=backoff, readiness=readiness, liveness=liveness, stop_grace=0.1,
                    depends_on=tuple(Dependency(service=s, condition=c) for s, c in deps))


def make_engine(specs: list[UnitSpec], runners: dict[str, FakeRunner]) -> Engine:
    for spec in specs:
        runners.setdefault(spec.name, FakeRunner(spec.name))
    loop = asyncio.get_running_loop()
    assert isinstance(loop, VirtualTimeLoop)
    engine = Engine({s.name: s for s in specs}, runners, clock=loop.time, wall=loop.wall,
                    stats_interval=2.0)
    for name, runner in runners.items():
        runner.sink = _sink(engine, name)
    return engine


def _sink(engine: Engine, name: str):  # type: ignore[no-untyped-def]
    def sink(line: str, stream: str, ts: float) -> None:
        engine.logs.append(name, line, stream, ts)
    return sink


def drain(sub: Subscription) -> list[object]:
    events = []
    while sub.pending():
        events.append(sub._queue.popleft())
    return events


@virtual_time
async def test_units_start_after_their_dependencies_are_healthy_and_stop_in_reverse() -> None:
    journal: list[tuple[str, str]] = []
    runners = {n: FakeRunner(n, runs=[Run(start_delay=0.02)], journal=journal)
               for n in ("db", "api", "web", "metrics")}
    engine = make_engine([unit("db"), unit("api", ("db", HEALTHY)),
                          unit("web", ("api", STARTED)), unit("metrics")], runners)
    await engine.start()
    verdicts = await engine.wait_ready(["db", "api", "web", "metrics"], timeout=5)
    assert all(v.ok for v in verdicts), verdicts
    starts = [n for kind, n in journal if kind == "start"]
    assert starts.index("db") < starts.index("api") < starts.index("web")
    # independent units start in the first wave, beside db
    assert starts.index("metrics") < starts.index("api")
    await engine.stop()
    stops = [n for kind, n in journal if kind == "stop"]
    assert stops.index("web") < stops.index("api") < stops.index("db")
    assert {s.state for s in engine.status()} == {UnitState.STOPPED}
    timeline = [e.what for e in engine.timeline("api")]
    assert timeline[:5] == ["waiting for dependencies", "dependencies met", "starting",
                            "starting run 1", "running"]
    assert "ready" in timeline


@virtual_time
async def test_a_failed_unit_holds_back_its_dependents_naming_the_root_cause_once() -> None:
    runners = {"db": FakeRunner("db", runs=[Run(start_error="image missing")])}
    engine = make_engine([unit("db"), unit("api", ("db", HEALTHY)),
                          unit("web", ("api", HEALTHY)), unit("cache")], runners)
    await engine.start()
    verdicts = {v.unit: v for v in await engine.wait_ready(["db", "api", "web", "cache"],
                                                          timeout=5)}
    assert verdicts["cache"].ok
    assert not verdicts["db"].ok and "image missing" in verdicts["db"].reason
    for dependent in ("api", "web"):  # the chain names the root, not the error again
        assert not verdicts[dependent].ok
        assert verdicts[dependent].reason == "held back by db"
        assert verdicts[dependent].held_back_by == "db"
        assert verdicts[dependent].last_logs == ()
    assert engine.status_of("api").state is UnitState.PENDING
    assert engine.status_of("cache").state is UnitState.RUNNING
    await engine.stop()


@virtual_time
async def test_unhealthy_unit_fails_the_wait_with_its_health_detail() -> None:
    runners = {"db": FakeRunner("db", runs=[Run(health=Health.UNHEALTHY)])}
    engine = make_engine([unit("db"), unit("other")], runners)
    await engine.start()
    verdicts = {v.unit: v for v in await engine.wait_ready(["db", "other"], timeout=5)}
    assert not verdicts["db"].ok
    assert verdicts["db"].reason == "unhealthy: scripted"
    assert verdicts["db"].last_logs == ("db last line",)
    assert verdicts["other"].ok
    await engine.stop()


@virtual_time
async def test_wait_times_out_with_a_reason() -> None:
    runners = {"slow": FakeRunner("slow", runs=[Run(health=Health.STARTING)])}
    engine = make_engine([unit("slow")], runners)
    await engine.start()
    [verdict] = await engine.wait_ready(["slow"], timeout=3)
    assert not verdict.ok
    assert verdict.reason.startswith("not ready after 3s: health check still starting")
    await engine.stop()


@virtual_time
async def test_readiness_is_polled_fast_after_a_start_then_at_the_steady_pace() -> None:
    runner = FakeRunner("api", runs=[Run(healthy_after=0.1)], health_poll=1.0)
    engine = make_engine([unit("api", readiness=Probe(kind="tcp", port=1, interval=1.0))],
                         {"api": runner})
    loop = asyncio.get_running_loop()
    began = loop.time()
    await engine.start()
    [verdict] = await engine.wait_ready(["api"], timeout=10)
    assert verdict.ok
    # Healthy after 0.1 s: found within one 10 ms step (a doubling schedule found it at
    # 150 ms), not at the next full interval of 1 s.
    assert loop.time() - began < 0.115
    checks = runner.health_checks
    await asyncio.sleep(30)
    assert runner.health_checks - checks <= 7  # steady: every 5 s once healthy
    await engine.stop()


@virtual_time
async def test_a_crash_loop_stays_visible_until_the_unit_is_stable_again() -> None:
    crash = Run(exit_after=0.5, exit_code=3, output="boom: cannot bind")
    runners = {"api": FakeRunner("api", runs=[crash, crash, crash, crash, Run()])}
    engine = make_engine([unit("api", restart="on-failure")], runners)
    sub = engine.bus.subscribe(types=("unit",))
    await engine.start()
    await until_async(lambda: runners["api"].starts == 5 and engine.status_of("api").ready,
                      "api started 5 times and ready", 120, interval=0.01)
    seen = [e.status for e in drain(sub) if isinstance(e, UnitChanged)]
    third = next(i for i, r in enumerate(seen) if r.failures == 3)
    # From the third failure on, every record says crash loop — while backing off, while
    # starting again and while running — with the exit code and the last line of output.
    for record in seen[third:]:
        assert record.crash_loop, record
        assert "crash loop (" in record.reason and "exited with code 3" in record.reason
        assert "boom: cannot bind" in record.reason
    states = {r.state for r in seen[third:]}
    assert {UnitState.BACKOFF, UnitState.STARTING, UnitState.RUNNING} <= states
    backoffs = list(dict.fromkeys(r.reason for r in seen if r.state is UnitState.BACKOFF))
    assert [b.split(" after")[0] for b in backoffs[:2]] == ["restarting in 1.0s",
                                                             "restarting in 2.0s"]
    assert engine.status_of("api").restarts == 4
    # Stable for the backoff's reset period: the loop is over.
    await asyncio.sleep(FAST.reset_after + 1)
    record = engine.status_of("api")
    assert not record.crash_loop and record.failures == 0
    assert "crash loop" not in record.reason
    await engine.stop()


@virtual_time
async def test_the_restart_backoff_doubles_up_to_its_maximum_and_never_waits_longer() -> None:
    """The shipped defaults (1 s, doubling, at most 30 s): the pauses the unit really gets, and
    the ones its status announces, stop growing at the profile's `backoff.maximum`."""
    loop = asyncio.get_running_loop()

    class TimedRunner(FakeRunner):
        started_at: list[float] = []

        async def start(self, progress=None):  # type: ignore[no-untyped-def]
            self.started_at.append(loop.time())
            return await super().start(progress)

    runner = TimedRunner("api", runs=[Run(exit_after=0.1, exit_code=1)])
    spec = unit("api", restart="on-failure", readiness=None, backoff=Backoff())
    assert spec.backoff.maximum == 30.0
    engine = make_engine([spec], {"api": runner})
    sub = engine.bus.subscribe(types=("unit",))
    await engine.start()
    await until_async(lambda: runner.starts, "9 starts", 400, ok=lambda n: n >= 9, interval=0.01)
    await engine.stop()
    expected = [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    gaps = [b - a for a, b in zip(runner.started_at, runner.started_at[1:], strict=False)]
    # each gap: the 0.1 s run, then the pause (a few virtual milliseconds of bookkeeping)
    assert [round(gap - 0.1) for gap in gaps[:8]] == expected
    reasons = dict.fromkeys(e.status.reason for e in drain(sub) if isinstance(e, UnitChanged)
                            and e.status.state is UnitState.BACKOFF)  # one per pause
    announced = [float(m.group(1)) for reason in reasons
                 for m in [re.search(r"restarting in ([0-9.]+)s", reason)] if m]
    assert announced[:8] == expected


@virtual_time
async def test_restart_policy_no_leaves_a_crashed_unit_crashed() -> None:
    runners = {"job": FakeRunner("job", runs=[Run(exit_after=0.01, exit_code=1)])}
    engine = make_engine([unit("job", readiness=None)], runners)
    await engine.start()
    [verdict] = await engine.wait_ready(["job"], timeout=5)
    assert not verdict.ok and "exited with code 1" in verdict.reason
    await asyncio.sleep(10)
    assert engine.status_of("job").state is UnitState.CRASHED
    assert engine.status_of("job").exit_code == 1
    assert runners["job"].starts == 1


@virtual_time
async def test_a_unit_without_a_probe_is_ready_only_once_it_stayed_up() -> None:
    runners = {"quick": FakeRunner("quick", runs=[Run(exit_after=0.2, exit_code=1)]),
               "steady": FakeRunner("steady")}
    engine = make_engine([unit("quick", readiness=None), unit("steady", readiness=None)],
                         runners)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await engine.start()
    verdicts = {v.unit: v for v in await engine.wait_ready(["quick", "steady"], timeout=10)}
    assert not verdicts["quick"].ok and verdicts["quick"].state == "crashed"
    assert verdicts["steady"].ok
    assert loop.time() - began >= SETTLE_SECONDS  # not "ok" the instant it ran
    await engine.stop()


@virtual_time
async def test_completed_successfully_dependency() -> None:
    runners = {"migrate": FakeRunner("migrate", runs=[Run(exit_after=0.02, exit_code=0)])}
    engine = make_engine([unit("migrate", readiness=None),
                          unit("api", ("migrate", DependencyCondition.COMPLETED_SUCCESSFULLY))],
                         runners)
    await engine.start(["api"])
    verdicts = {v.unit: v for v in await engine.wait_ready(["api", "migrate"], timeout=5)}
    assert verdicts["api"].ok and verdicts["migrate"].ok
    assert engine.status_of("migrate").state is UnitState.EXITED
    await engine.stop()


@virtual_time
async def test_start_of_one_unit_brings_its_dependencies_only() -> None:
    engine = make_engine([unit("db"), unit("api", ("db", HEALTHY)), unit("web")], {})
    order = await engine.start(["api"])
    assert order == ["db", "api"]
    await engine.wait_ready(order, timeout=5)
    assert engine.status_of("web").state is UnitState.PENDING
    await engine.stop()


@virtual_time
async def test_reload_bursts_are_coalesced_into_one_more_restart() -> None:
    runners = {"api": FakeRunner("api", runs=[Run(start_delay=0.05)])}
    engine = make_engine([unit("api", restart="on-failure")], runners)
    await engine.start()
    await engine.wait_ready(["api"], timeout=5)
    first = asyncio.create_task(engine.reload("api", ["a.py"]))
    await asyncio.sleep(0.01)
    for i in range(20):  # arrive while the first reload is restarting
        await engine.reload("api", [f"b{i}.py"])
    await first
    assert engine.reloads.completed["api"] == 2
    assert runners["api"].starts == 3
    last = engine.status_of("api").last_reload
    assert last is not None and last.outcome == "ok" and "b0.py" in last.cause
    await engine.stop()


@virtual_time
async def test_failed_build_keeps_the_old_run() -> None:
    runners = {"api": FakeRunner("api", build_ok=False, can_build=True)}
    engine = make_engine([unit("api")], runners)
    sub = engine.bus.subscribe(types=("reload",))
    await engine.start()
    await engine.wait_ready(["api"], timeout=5)
    await engine.reload("api", ["src/a.kt"])
    assert runners["api"].builds == 1
    assert runners["api"].starts == 1  # not restarted
    assert engine.status_of("api").state is UnitState.RUNNING
    phases = [(e.phase, e.detail) for e in drain(sub) if isinstance(e, ReloadPhase)]
    assert phases[-1] == ("build_failed", "compile error: x")
    last = engine.status_of("api").last_reload
    assert last is not None and last.outcome == "build_failed"
    assert last.detail == "compile error: x"
    neodev_lines = [r.line for r in engine.logs.tail("api", 10) if r.stream == "neodev"]
    assert any("build failed" in line for line in neodev_lines)
    await engine.stop()


@virtual_time
async def test_a_stopped_unit_is_not_started_again_by_a_file_change() -> None:
    runners = {"api": FakeRunner("api")}
    engine = make_engine([unit("api", restart="always")], runners)
    await engine.start()
    await engine.wait_ready(["api"], timeout=5)
    await engine.stop(["api"])
    assert engine.status_of("api").desired == "stopped"
    await engine.reload("api", ["src/a.kt"])
    await asyncio.sleep(5)
    assert runners["api"].starts == 1
    assert engine.status_of("api").state is UnitState.STOPPED
    assert engine.reloads.ignored["api"] == 1
    await engine.start(["api"])  # started again by a person: reloads apply again
    await engine.wait_ready(["api"], timeout=5)
    await engine.reload("api", ["src/a.kt"])
    assert runners["api"].starts == 3


@virtual_time
async def test_a_failing_liveness_probe_restarts_the_unit() -> None:
    runner = FakeRunner("api", runs=[Run(live_for=5.0), Run()])
    engine = make_engine([unit("api", restart="on-failure", liveness=LIVE)], {"api": runner})
    sub = engine.bus.subscribe(types=("unit",))
    await engine.start()
    await until_async(lambda: runner.starts == 2 and engine.status_of("api").ready,
                      "api started twice and ready", 60, interval=0.01)
    record = engine.status_of("api")
    assert record.restarts == 1
    reasons = [e.status.reason for e in drain(sub) if isinstance(e, UnitChanged)]
    assert any(r.startswith("liveness probe failed: GET /live -> 500") for r in reasons)
    assert any(r.startswith("restarted: liveness probe failed") for r in reasons)
    await asyncio.sleep(60)  # the second run stays live: no more restarts
    assert runner.starts == 2
    await engine.stop()


@virtual_time
async def test_liveness_only_counts_after_readiness() -> None:
    # Never ready: its liveness (which would fail at once) is not checked at all.
    runner = FakeRunner("api", runs=[Run(health=Health.STARTING, live_for=0.0)])
    engine = make_engine([unit("api", restart="on-failure", liveness=LIVE)], {"api": runner})
    await engine.start()
    await asyncio.sleep(30)
    assert runner.starts == 1
    await engine.stop()


@virtual_time
async def test_an_engine_outage_is_said_as_such_and_counts_no_failure() -> None:
    down = Run(unreachable=True)
    runners = {"db": FakeRunner("db", runs=[down, down, down, down, Run()])}
    engine = make_engine([unit("db", restart="on-failure")], runners)
    sub = engine.bus.subscribe(types=("unit",))
    await engine.start()
    await until_async(lambda: engine.status_of("db").ready, "db ready", 120, interval=0.01)
    seen = [e.status for e in drain(sub) if isinstance(e, UnitChanged)]
    outage = [r for r in seen if r.state is UnitState.BACKOFF]
    assert outage and all(r.reason.startswith("Docker engine unreachable") for r in outage)
    assert all(not r.crash_loop and r.failures == 0 for r in seen)
    assert engine.status_of("db").restarts == 0  # nothing restarted: the engine was away
    await engine.stop()


@virtual_time
async def test_stop_during_backoff_and_pending() -> None:
    crash = Run(exit_after=0.01, exit_code=1, health=Health.STARTING)
    runners = {"api": FakeRunner("api", runs=[crash])}
    engine = make_engine([unit("api", restart="always"),
                          unit("web", ("api", HEALTHY))], runners)
    await engine.start()
    await until_async(lambda: engine.status_of("api").state, "api in backoff", 5,
                      ok=lambda state: state is UnitState.BACKOFF, interval=0.01)
    assert engine.status_of("web").state is UnitState.PENDING
    await asyncio.wait_for(engine.stop(), timeout=2)
    assert engine.status_of("api").state is UnitState.STOPPED
    assert engine.status_of("web").state is UnitState.STOPPED


def test_unknown_unit_is_a_key_error() -> None:
    engine_units = {"db": unit("db")}
    with pytest.raises(KeyError):
        Engine(engine_units, {"db": FakeRunner("db")}).resolve(["nope"])


@virtual_time
async def test_a_runner_that_loses_its_unit_counts_as_a_crash_and_restarts() -> None:
    from neodev.errors import DockerError

    class LosingRunner(FakeRunner):
        async def wait_exit(self) -> int:
            if self.starts == 1:
                await asyncio.sleep(0.02)
                raise DockerError("container vanished")
            return await super().wait_exit()

    runners = {"db": LosingRunner("db")}
    engine = make_engine([unit("db", restart="on-failure")], runners)
    sub = engine.bus.subscribe(types=("unit",))
    await engine.start()
    await until_async(lambda: runners["db"].starts >= 2 and engine.status_of("db").ready,
                      "db started again and ready", 20, interval=0.01)
    assert runners["db"].starts == 2
    reasons = [e.status.reason for e in drain(sub) if isinstance(e, UnitChanged)
               and e.status.state is UnitState.CRASHED]
    assert reasons == ["lost track of the unit: container vanished"]
    await engine.stop()


@virtual_time
async def test_restart_never_starts_while_the_runner_is_still_stopping() -> None:
    class SlowStopRunner(FakeRunner):
        stopping = False
        overlapped = False

        async def start(self, progress=None):  # type: ignore[no-untyped-def]
            self.overlapped = self.overlapped or self.stopping
            return await super().start(progress)

        async def stop(self, grace: float) -> None:
            self.stopping = True
            self._exit(143)  # the unit is gone at once, but the driver still cleans up
            await asyncio.sleep(0.1)
            self.stopping = False

    runner = SlowStopRunner("api")
    engine = make_engine([unit("api")], {"api": runner})
    await engine.start()
    await engine.wait_ready(["api"], timeout=5)
    await engine.reload("api", ["a.py"])
    assert runner.starts == 2
    assert not runner.overlapped
    await engine.stop()


@virtual_time
async def test_wait_gives_up_at_once_on_a_unit_that_cannot_start_even_with_restarts() -> None:
    runners = {"loki": FakeRunner("loki", runs=[Run(start_error="image grafana/loki missing")])}
    engine = make_engine([unit("loki", restart="always"), unit("db")], runners)
    await engine.start()
    loop = asyncio.get_running_loop()
    started = loop.time()
    verdicts = {v.unit: v for v in await engine.wait_ready(["loki", "db"], timeout=30)}
    assert loop.time() - started < 5  # not the 30 s timeout
    assert not verdicts["loki"].ok and "image grafana/loki missing" in verdicts["loki"].reason
    assert verdicts["db"].ok
    assert engine.status_of("loki").start_failed
    await engine.stop()


@virtual_time
async def test_wait_gives_up_on_a_crash_loop_but_the_policy_keeps_restarting() -> None:
    crash = Run(exit_after=0.01, exit_code=1, health=Health.STARTING)
    runners = {"api": FakeRunner("api", runs=[crash])}
    spec = unit("api", restart="on-failure",
                backoff=Backoff(initial=0.01, factor=1.0, maximum=0.01, reset_after=5))
    engine = make_engine([spec], runners)
    await engine.start()
    [verdict] = await engine.wait_ready(["api"], timeout=30)
    assert not verdict.ok and verdict.reason.startswith("crash loop (3 failures in a row")
    assert engine.status_of("api").failures >= 3
    starts = runners["api"].starts
    await asyncio.sleep(0.2)
    assert runners["api"].starts > starts  # still restarting in the background
    await engine.stop()


@virtual_time
async def test_every_status_change_is_published_so_the_stream_folds_into_the_status() -> None:
    crash = Run(exit_after=0.3, exit_code=2)
    runners = {"db": FakeRunner("db"),
               "api": FakeRunner("api", runs=[crash, crash, Run()], can_build=True)}
    engine = make_engine([unit("db"), unit("api", ("db", HEALTHY), restart="on-failure")],
                         runners)
    view: dict[str, UnitRecord] = {r.name: r for r in engine.status()}
    sub = engine.bus.subscribe()

    def folded() -> list[UnitRecord]:
        for event in drain(sub):
            fold(view, event)  # type: ignore[arg-type]
        return [view[name] for name in engine.units]

    await engine.start()
    for _ in range(40):  # start, crash loop, stats samples...
        await asyncio.sleep(0.37)
        assert folded() == engine.status()
    await engine.reload("api", ["src/a.kt"])
    assert folded() == engine.status()
    await engine.stop()
    assert folded() == engine.status()
    assert engine.status_of("api").last_reload is not None


@virtual_time
async def test_an_optional_unit_that_fails_does_not_fail_the_wait_but_says_why() -> None:
    runners = {"grafana": FakeRunner("grafana", runs=[Run(start_error="image not available")]),
               "dash": FakeRunner("dash")}
    optional = unit("grafana", restart="on-failure").model_copy(update={"optional": True})
    engine = make_engine([optional, unit("db"), unit("dash", ("grafana", HEALTHY))], runners)
    await engine.start()
    verdicts = {v.unit: v for v in await engine.wait_ready(["grafana", "db", "dash"], 10)}
    assert verdicts["db"].ok and not verdicts["db"].optional
    assert verdicts["grafana"].ok and verdicts["grafana"].optional
    assert "image not available" in verdicts["grafana"].reason
    # a required unit held back by the optional one still fails, naming it
    assert not verdicts["dash"].ok and verdicts["dash"].held_back_by == "grafana"
    await engine.stop()


@virtual_time
async def test_a_run_that_adopts_the_unit_still_running_is_no_restart() -> None:
    from neodev.engine.runner import LaunchResult
    from neodev.errors import DockerError, EngineUnreachable

    class EngineGoesAway(FakeRunner):
        """The engine drops the wait of run 1 (an outage, or an error it did not name as
        one); the unit never stopped, so the next start adopts it."""

        error: Exception = EngineUnreachable("no Docker engine answers")

        async def start(self, progress=None):  # type: ignore[no-untyped-def]
            launched = await super().start(progress)
            return LaunchResult(adopted=True, detail="adopted") if self.starts > 1 else launched

        async def wait_exit(self) -> int:
            if self.starts == 1:
                await asyncio.sleep(0.02)
                raise self.error
            return await super().wait_exit()

    outage, lost = EngineGoesAway("db"), EngineGoesAway("api")
    lost.error = DockerError("Docker error while trying to wait for container: cut")
    engine = make_engine([unit("db", restart="on-failure"), unit("api", restart="on-failure")],
                         {"db": outage, "api": lost})
    await engine.start()
    await until_async(lambda: outage.starts == 2 and lost.starts == 2
                      and engine.status_of("db").ready and engine.status_of("api").ready,
                      "db and api started twice and ready", 30, interval=0.01)
    assert engine.status_of("db").restarts == 0 and engine.status_of("db").failures == 0
    assert engine.status_of("api").restarts == 0  # adopted: it never stopped
    await engine.stop()
