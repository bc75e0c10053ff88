"""ProbeTracker: Docker healthcheck semantics over scripted attempts and a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from neodev.config.model import Probe
from neodev.errors import ProcessError
from neodev.health import ExecProbe, LogLineProbe, ProbeResult, ProbeTracker, build_strategy
from neodev.protocol import Health
from tests.clocks import FakeClock


class Scripted:
    def __init__(self, *outcomes: bool) -> None:
        self.outcomes = list(outcomes)

    def describe(self) -> str:
        return "scripted"

    async def check(self) -> ProbeResult:
        ok = self.outcomes.pop(0)
        return ProbeResult(ok, "scripted -> " + ("ok" if ok else "refused"))


def tracker(*outcomes: bool, retries: int = 3, start_period: float = 0.0,
            clock: FakeClock | None = None) -> ProbeTracker:
    probe = Probe(kind="tcp", port=1, retries=retries, start_period=start_period)
    return ProbeTracker(Scripted(*outcomes), probe, clock=clock or FakeClock())


async def test_starting_until_first_success_then_healthy() -> None:
    t = tracker(False, True)
    assert t.health is Health.STARTING
    assert (await t.observe()).health is Health.STARTING
    report = await t.observe()
    assert report.health is Health.HEALTHY
    assert "scripted -> ok" in report.detail


async def test_unhealthy_after_retries_consecutive_failures() -> None:
    clock = FakeClock()
    t = tracker(True, False, False, True, False, False, False, retries=3, clock=clock)
    healths = []
    for _ in range(7):  # one attempt per interval (1 s), as Docker checks
        clock.now += 1.0
        healths.append((await t.observe()).health)
    assert healths == [Health.HEALTHY, Health.HEALTHY, Health.HEALTHY, Health.HEALTHY,
                       Health.HEALTHY, Health.HEALTHY, Health.UNHEALTHY]
    assert "failure 3/3" in t.last.detail
    assert "refused" in t.last.detail


async def test_quick_attempts_count_one_failure_per_interval() -> None:
    """The supervisor tries every 10 ms right after a start: a server that needs 50 ms to
    listen fails five attempts, which must not make it unhealthy (retries=3, interval 1 s)."""
    clock = FakeClock()
    t = tracker(*[False] * 5, True, retries=3, clock=clock)
    for _ in range(5):
        clock.now += 0.01
        assert (await t.observe()).health is Health.STARTING
    assert t.failures == 0 and "not counted yet" in t.last.detail
    clock.now += 0.01
    assert (await t.observe()).health is Health.HEALTHY
    slow = tracker(*[False] * 4, retries=3, clock=clock)
    for _ in range(4):  # a second apart: each counts
        clock.now += 1.0
        report = await slow.observe()
    assert report.health is Health.UNHEALTHY and slow.failures >= 3


async def test_failures_in_start_period_do_not_count() -> None:
    clock = FakeClock()
    t = tracker(False, False, False, False, retries=1, start_period=10.0, clock=clock)
    assert (await t.observe()).health is Health.STARTING
    assert "start period" in t.last.detail
    clock.now += 5
    assert (await t.observe()).health is Health.STARTING
    clock.now += 6  # start period over: the next failure counts, and retries=1
    assert (await t.observe()).health is Health.UNHEALTHY


async def test_success_inside_start_period_is_healthy_and_restart_resets() -> None:
    clock = FakeClock()
    t = tracker(True, False, retries=1, start_period=30.0, clock=clock)
    assert (await t.observe()).health is Health.HEALTHY
    t.restart()
    assert t.health is Health.STARTING and t.failures == 0
    assert (await t.observe()).health is Health.STARTING  # new start period


async def test_log_line_probe_matches_fed_lines_and_resets() -> None:
    probe = LogLineProbe(r"started on port \d+")
    result = await probe.check()
    assert not result.ok and "no output yet" in result.detail
    probe.feed("booting")
    result = await probe.check()
    assert not result.ok and "last line: booting" in result.detail
    probe.feed("server started on port 8080")
    result = await probe.check()
    assert result.ok and "started on port 8080" in result.detail
    probe.reset()
    assert not (await probe.check()).ok


def test_build_strategy_names_what_is_missing() -> None:
    with pytest.raises(ProcessError, match="url"):
        build_strategy(Probe(kind="http"))
    with pytest.raises(ProcessError, match="port"):
        build_strategy(Probe(kind="tcp"))
    with pytest.raises(ProcessError, match="valid for processes"):
        build_strategy(Probe(kind="docker"))
    with pytest.raises(ProcessError, match="not a valid regular expression"):
        build_strategy(Probe(kind="log", pattern="("))
    with pytest.raises(ProcessError, match="empty command"):
        ExecProbe(())


async def test_tracker_guards_a_strategy_that_hangs() -> None:
    class Hangs:
        def describe(self) -> str:
            return "hangs"

        async def check(self) -> ProbeResult:
            await asyncio.sleep(60)
            raise AssertionError("unreachable")

    t = ProbeTracker(Hangs(), Probe(kind="tcp", port=1, timeout=0.01, retries=1,
                                    interval=0.01))
    import neodev.health.tracker as mod
    old, mod._GUARD_MARGIN = mod._GUARD_MARGIN, 0.05
    try:
        report = await asyncio.wait_for(t.observe(), 5)
    finally:
        mod._GUARD_MARGIN = old
    assert report.health is Health.UNHEALTHY
    assert "no result within" in report.detail
