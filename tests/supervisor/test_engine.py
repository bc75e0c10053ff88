"""The engine's state machine, dependency order, restart policy and reload coalescing."""

from __future__ import annotations

import asyncio

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
from neodev.engine.events import Health, StateChanged, UnitState
from neodev.engine.supervisor import Engine
from tests.supervisor.fakes import FakeRunner, Run

FAST = Backoff(initial=0.05, factor=2.0, maximum=0.2, reset_after=5.0)
READY = Probe(kind="tcp", port=1, interval=0.01)


def unit(name: str, *deps: tuple[str, DependencyCondition], restart: str = "no",
         readiness: Probe | None = READY, build: bool = False) -> UnitSpec:
    return UnitSpec(name=name, kind=UnitKind.PROCESS, restart=RestartPolicy(restart),
                    backoff=FAST, readiness=readiness, stop_grace=0.1,
                    depends_on=tuple(Dependency(service=s, condition=c) for s, c in deps))


def make_engine(specs: list[UnitSpec], runners: dict[str, FakeRunner]) -> Engine:
    for spec in specs:
        runners.setdefault(spec.name, FakeRunner(spec.name))
    engine = Engine({s.name: s for s in specs}, runners, stats_interval=0.02)
    for name, runner in runners.items():
        runner.sink = engine.log_sink(name)
    return engine


HEALTHY = DependencyCondition.HEALTHY
STARTED = DependencyCondition.STARTED


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


async def test_failed_unit_holds_back_only_its_dependents() -> None:
    runners = {"db": FakeRunner("db", runs=[Run(start_error="image missing")])}
    engine = make_engine([unit("db"), unit("api", ("db", HEALTHY)), unit("cache")], runners)
    await engine.start()
    verdicts = {v.unit: v for v in await engine.wait_ready(["db", "api", "cache"], timeout=5)}
    assert verdicts["cache"].ok
    assert not verdicts["db"].ok and "image missing" in verdicts["db"].reason
    assert not verdicts["api"].ok
    assert verdicts["api"].reason.startswith(
        "not started: it needs db, which failed: failed to start: image missing")
    assert engine.status_of("api").state is UnitState.PENDING
    assert engine.status_of("cache").state is UnitState.RUNNING
    await engine.stop()


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


async def test_wait_times_out_with_a_reason() -> None:
    runners = {"slow": FakeRunner("slow", runs=[Run(health=Health.STARTING)])}
    engine = make_engine([unit("slow")], runners)
    await engine.start()
    [verdict] = await engine.wait_ready(["slow"], timeout=0.3)
    assert not verdict.ok
    assert verdict.reason.startswith("not ready after 0s: health check still starting")
    await engine.stop()


async def test_on_failure_restarts_with_growing_backoff_until_stable() -> None:
    crash = Run(exit_after=0.01, exit_code=3)
    runners = {"api": FakeRunner("api", runs=[crash, crash, crash, Run()])}
    engine = make_engine([unit("api", restart="on-failure")], runners)
    events: list[StateChanged] = []
    sub = engine.bus.subscribe()
    await engine.start()
    for _ in range(200):  # the first runs report healthy before crashing: wait for run 4
        if runners["api"].starts == 4 and engine.status_of("api").ready:
            break
        await asyncio.sleep(0.01)
    assert engine.status_of("api").ready
    while not sub.queue.empty():
        event = sub.queue.get_nowait()
        if isinstance(event, StateChanged):
            events.append(event)
    backoffs = [e.reason for e in events if e.state is UnitState.BACKOFF]
    assert [b.split(" after")[0] for b in backoffs] == [
        "restarting in 0.1s", "restarting in 0.1s", "crash loop (3 failures in a row): "
        "restarting in 0.2s"]
    assert "exited with code 3; last output: api last line" in backoffs[0]
    assert engine.status_of("api").restarts == 3
    await engine.stop()


async def test_restart_policy_no_leaves_a_crashed_unit_crashed() -> None:
    runners = {"job": FakeRunner("job", runs=[Run(exit_after=0.01, exit_code=1)])}
    engine = make_engine([unit("job", readiness=None)], runners)
    await engine.start()
    await engine.wait_ready(["job"], timeout=5)
    await asyncio.sleep(0.1)
    assert engine.status_of("job").state is UnitState.CRASHED
    assert engine.status_of("job").exit_code == 1
    assert runners["job"].starts == 1


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


async def test_start_of_one_unit_brings_its_dependencies_only() -> None:
    engine = make_engine([unit("db"), unit("api", ("db", HEALTHY)), unit("web")], {})
    order = await engine.start(["api"])
    assert order == ["db", "api"]
    await engine.wait_ready(order, timeout=5)
    assert engine.status_of("web").state is UnitState.PENDING
    await engine.stop()


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
    await engine.stop()


async def test_failed_build_keeps_the_old_run() -> None:
    spec = unit("api").model_copy(update={})
    runners = {"api": FakeRunner("api", build_ok=False)}
    engine = Engine({"api": spec}, runners, stats_interval=0.02)
    sub = engine.bus.subscribe()
    await engine.start()
    await engine.wait_ready(["api"], timeout=5)
    # UnitSpec has no build field; only specs with `build` run it, so use a process-like spec
    from neodev.config.model import ProcessSpec

    proc = ProcessSpec(name="api", cwd=".", command=("x",), build=("make",), readiness=READY,
                       backoff=FAST)
    engine.supervisors["api"].spec = proc
    await engine.reload("api", ["src/a.kt"])
    assert runners["api"].builds == 1
    assert runners["api"].starts == 1  # not restarted
    assert engine.status_of("api").state is UnitState.RUNNING
    phases = []
    while not sub.queue.empty():
        event = sub.queue.get_nowait()
        if event.type == "reload":
            phases.append((event.phase, event.detail))
    assert phases[-1] == ("build_failed", "compile error: x")
    await engine.stop()


async def test_stop_during_backoff_and_pending() -> None:
    crash = Run(exit_after=0.01, exit_code=1, health=Health.STARTING)
    runners = {"api": FakeRunner("api", runs=[crash])}
    engine = make_engine([unit("api", restart="always"),
                          unit("web", ("api", HEALTHY))], runners)
    await engine.start()
    for _ in range(100):
        if engine.status_of("api").state is UnitState.BACKOFF:
            break
        await asyncio.sleep(0.01)
    assert engine.status_of("web").state is UnitState.PENDING
    await asyncio.wait_for(engine.stop(), timeout=2)
    assert engine.status_of("api").state is UnitState.STOPPED
    assert engine.status_of("web").state is UnitState.STOPPED


def test_unknown_unit_is_a_key_error() -> None:
    engine_units = {"db": unit("db")}
    with pytest.raises(KeyError):
        Engine(engine_units, {"db": FakeRunner("db")}).resolve(["nope"])


async def test_a_runner_that_loses_its_unit_counts_as_a_crash_and_restarts() -> None:
    from neodev.errors import DockerError

    class LosingRunner(FakeRunner):
        async def wait_exit(self) -> int:
            if self.starts == 1:
                await asyncio.sleep(0.02)
                raise DockerError("engine went away")
            return await super().wait_exit()

    runners = {"db": LosingRunner("db")}
    engine = make_engine([unit("db", restart="on-failure")], runners)
    sub = engine.bus.subscribe()
    await engine.start()
    for _ in range(200):
        if runners["db"].starts >= 2 and engine.status_of("db").ready:
            break
        await asyncio.sleep(0.01)
    assert runners["db"].starts == 2
    reasons = []
    while not sub.queue.empty():
        event = sub.queue.get_nowait()
        if isinstance(event, StateChanged) and event.state is UnitState.CRASHED:
            reasons.append(event.reason)
    assert reasons == ["lost track of the unit: engine went away"]
    await engine.stop()


async def test_restart_never_starts_while_the_runner_is_still_stopping() -> None:
    class SlowStopRunner(FakeRunner):
        stopping = False
        overlapped = False

        async def start(self):  # type: ignore[no-untyped-def]
            self.overlapped = self.overlapped or self.stopping
            return await super().start()

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


async def test_wait_gives_up_at_once_on_a_unit_that_cannot_start_even_with_restarts() -> None:
    runners = {"loki": FakeRunner("loki", runs=[Run(start_error="image grafana/loki missing")])}
    engine = make_engine([unit("loki", restart="always"), unit("db")], runners)
    await engine.start()
    started = asyncio.get_running_loop().time()
    verdicts = {v.unit: v for v in await engine.wait_ready(["loki", "db"], timeout=30)}
    assert asyncio.get_running_loop().time() - started < 5  # not the 30 s timeout
    assert not verdicts["loki"].ok and "image grafana/loki missing" in verdicts["loki"].reason
    assert verdicts["db"].ok
    assert engine.status_of("loki").start_failed
    await engine.stop()


async def test_wait_gives_up_on_a_crash_loop_but_the_policy_keeps_restarting() -> None:
    crash = Run(exit_after=0.01, exit_code=1, health=Health.STARTING)
    runners = {"api": FakeRunner("api", runs=[crash])}
    spec = unit("api", restart="on-failure").model_copy(
        update={"backoff": Backoff(initial=0.01, factor=1.0, maximum=0.01, reset_after=5)})
    engine = make_engine([spec], runners)
    await engine.start()
    [verdict] = await engine.wait_ready(["api"], timeout=30)
    assert not verdict.ok and verdict.reason.startswith("crash loop (3 failures in a row)")
    assert engine.status_of("api").failures >= 3
    starts = runners["api"].starts
    await asyncio.sleep(0.2)
    assert runners["api"].starts > starts  # still restarting in the background
    await engine.stop()
