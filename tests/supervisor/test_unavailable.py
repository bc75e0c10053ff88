"""An image that cannot be had is a state of its own, not a crash loop.

Scripted runners under virtual time: a start that fails with an `unavailable` error (the
container driver's `ImageUnavailableError`) leaves the unit `unavailable` — said once, no
restart loop whatever its policy, not counted as a failure — and what depends on it says it is
skipped and why. It is tried again when someone asks (start, restart), or when the runner's
cheap look says the image is there now, on the steady probe pace (not a busy loop).
"""

from __future__ import annotations

import asyncio

import pytest

from neodev.cli.render import format_status
from neodev.engine.supervisor import STEADY_HEALTH_POLL
from neodev.errors import ImageUnavailableError
from neodev.protocol import UnitChanged, UnitState
from neodev.protocol.documents import Status
from neodev.tui.view import EnvironmentView
from tests.supervisor.fakes import FakeRunner, Run
from tests.supervisor.test_engine import HEALTHY, STARTED, drain, make_engine, unit
from tests.supervisor.vclock import virtual_time
from tests.waiting import until_async

LOKI = "grafana/loki:3.7.2"
NO_IMAGE = Run(start_error=ImageUnavailableError(
    f"Image {LOKI!r} is not available locally and pulling it failed: no registry. Set "
    "NEODEV_LOKI_IMAGE to an image that exists locally", image=LOKI))


def stack(loki_runs: list[Run]) -> tuple[dict[str, FakeRunner], list]:  # type: ignore[type-arg]
    """loki (optional, restart always) <- grafana (started) <- dash (healthy)."""
    runners = {"loki": FakeRunner("loki", runs=loki_runs)}
    specs = [unit("loki", restart="always").model_copy(update={"optional": True}),
             unit("grafana", ("loki", STARTED)).model_copy(update={"optional": True}),
             unit("dash", ("grafana", HEALTHY))]
    return runners, specs


@pytest.mark.timeout(60)
@virtual_time
async def test_an_image_that_cannot_be_had_is_unavailable_once_not_a_crash_loop() -> None:
    runners, specs = stack([NO_IMAGE])
    engine = make_engine(specs, runners)
    sub = engine.bus.subscribe(types=("unit",))
    await engine.start()
    await asyncio.sleep(120)  # a restart policy of "always" would have retried ~30 times
    loki = engine.status_of("loki")
    assert runners["loki"].starts == 1
    assert loki.state is UnitState.UNAVAILABLE
    assert loki.reason.startswith(f"unavailable: Image {LOKI!r} is not available locally")
    assert loki.unavailable == f"image {LOKI}"
    assert (loki.failures, loki.restarts, loki.crash_loop) == (0, 0, False)
    assert loki.start_failure == "image_missing" and loki.problem == loki.reason
    # looked for on the steady probe pace, not in a loop
    assert 120 / STEADY_HEALTH_POLL - 2 <= runners["loki"].availability_checks \
        <= 120 / STEADY_HEALTH_POLL + 1
    # what depends on it is skipped, says why, and is no problem of its own
    grafana, dash = engine.status_of("grafana"), engine.status_of("dash")
    assert grafana.state is UnitState.PENDING and grafana.skipped_by == "loki"
    assert grafana.reason == (f"skipped: loki is unavailable (image {LOKI}); starts when it "
                              "can")
    assert dash.skipped_by == "loki" and dash.reason == (
        f"skipped: grafana waits for loki, which is unavailable (image {LOKI}); starts when "
        "it can")
    assert grafana.problem == "" and dash.problem == ""
    # the dashboard tells it once, however long it lasts
    view = EnvironmentView()
    told = []
    for event in drain(sub):
        assert isinstance(event, UnitChanged)
        view.apply(event)
        told += view.problems_to_tell()
    assert [(p.unit, p.text) for p in told] == [("loki", loki.reason)]
    # `status` says unavailable and skipped, no crash loop
    text = format_status(Status(protocol=1, seq=1, instance="i", profile="local", project="p",
                                workspace="/w", units=tuple(engine.status())), now=0)
    assert "crash" not in text and "backoff" not in text
    assert f"  loki: unavailable: Image {LOKI!r}" in text
    assert f"  grafana: skipped: loki is unavailable (image {LOKI})" in text
    # the wait: loki's kind is image_missing; its dependents are held back by it
    verdicts = {v.unit: v for v in await engine.wait_ready(engine.resolve(["dash"]), timeout=5)}
    assert verdicts["loki"].kind == "image_missing" and verdicts["loki"].optional
    assert verdicts["dash"].kind == "held_back" and verdicts["dash"].held_back_by == "loki"
    await engine.stop()


@pytest.mark.timeout(60)
@virtual_time
async def test_an_unavailable_unit_is_tried_again_when_asked() -> None:
    runners, specs = stack([NO_IMAGE])
    engine = make_engine(specs, runners)
    await engine.start()
    await until_async(lambda: engine.status_of("loki").state, "loki unavailable", 120,
                      ok=lambda state: state is UnitState.UNAVAILABLE, interval=0.01)
    await engine.restart("loki")
    await until_async(lambda: runners["loki"].starts, "loki tried twice", 120,
                      ok=lambda n: n == 2, interval=0.01)
    await engine.start(["loki"])  # `neodev start` again asks too
    await until_async(lambda: runners["loki"].starts, "loki tried 3 times", 120,
                      ok=lambda n: n == 3, interval=0.01)
    await asyncio.sleep(30)
    assert runners["loki"].starts == 3
    assert engine.status_of("loki").state is UnitState.UNAVAILABLE
    await asyncio.wait_for(engine.stop(), timeout=2)
    assert engine.status_of("loki").state is UnitState.STOPPED
    assert engine.status_of("grafana").state is UnitState.STOPPED
    assert engine.status_of("grafana").skipped_by == ""


@pytest.mark.timeout(60)
@virtual_time
async def test_when_the_image_appears_the_unit_and_what_it_held_start() -> None:
    runners, specs = stack([NO_IMAGE, Run()])  # the image is there from the first look on
    engine = make_engine(specs, runners)
    await engine.start()
    await until_async(lambda: engine.status_of("loki").state, "loki unavailable", 120,
                      ok=lambda state: state is UnitState.UNAVAILABLE, interval=0.01)
    loop = asyncio.get_running_loop()
    since = loop.time()
    await until_async(lambda: engine.status_of("dash").ready, "dash ready", 30, interval=0.01)
    assert loop.time() - since <= STEADY_HEALTH_POLL + 2
    loki = engine.status_of("loki")
    assert runners["loki"].starts == 2 and loki.restarts == 0 and loki.unavailable == ""
    assert engine.status_of("grafana").skipped_by == ""
    steps = [e.what for e in engine.timeline("loki")]
    at = steps.index("unavailable")
    assert steps[at:at + 3] == ["unavailable", "available", "starting"]
    await engine.stop()
