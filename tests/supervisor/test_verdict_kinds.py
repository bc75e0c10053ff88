"""Every verdict says what it is (`Verdict.kind`), and the wait's kind picks the exit code.

Scripted runners under virtual time: each failure a `start --wait` distinguishes — a timeout,
a process that exited, a crash loop, a probe that keeps failing (with its last answer), a
missing image, a taken port, another start failure, a unit held back — comes out as its own
kind, decided by the engine from what the runner reported (it knows nothing of Docker).
"""

from __future__ import annotations

import asyncio

import pytest

from neodev.config.model import Backoff, Probe
from neodev.errors import (
    WAIT_EXIT_CODES,
    ImageUnavailableError,
    PortConflictError,
    ProcessError,
    StartupFailed,
)
from neodev.protocol import Health
from neodev.protocol.units import FAILURE_KINDS, VERDICT_KINDS, Verdict, WaitResult
from tests.supervisor.fakes import FakeRunner, Run
from tests.supervisor.test_engine import HEALTHY, make_engine, unit
from tests.supervisor.vclock import virtual_time

QUICK = Backoff(initial=0.01, factor=2.0, maximum=60.0, reset_after=120.0)
"""Three failures within 0.03 s (a crash loop), then restarts ever further apart."""


@pytest.mark.timeout(60)
@virtual_time
async def test_each_failure_is_its_own_kind() -> None:
    runners = {
        "ok": FakeRunner("ok"),
        "once": FakeRunner("once", runs=[Run(exit_after=0.01, exit_code=0)]),
        "slow": FakeRunner("slow", runs=[Run(health=Health.STARTING)]),
        "dies": FakeRunner("dies", runs=[Run(exit_after=0.01, exit_code=3)]),
        "loops": FakeRunner("loops", runs=[Run(exit_after=0.01, exit_code=1,
                                               health=Health.STARTING)]),
        "sick": FakeRunner("sick", runs=[Run(health=Health.UNHEALTHY)]),
        "noimage": FakeRunner("noimage", runs=[Run(start_error=ImageUnavailableError(
            "Image 'x:1' is not available locally and pulling it failed"))]),
        "port": FakeRunner("port", runs=[Run(start_error=PortConflictError(
            "Docker refused to start container: port is already allocated"))]),
        "nocwd": FakeRunner("nocwd", runs=[Run(start_error=ProcessError(
            "working directory /x does not exist"))]),
    }
    specs = [unit("ok"), unit("once", readiness=None), unit("slow"), unit("dies", readiness=None),
             unit("loops", restart="on-failure", backoff=QUICK), unit("sick"),
             unit("noimage", restart="always", backoff=QUICK), unit("port"), unit("nocwd"),
             unit("after", ("dies", HEALTHY))]
    engine = make_engine(specs, runners)
    await engine.start()
    verdicts = {v.unit: v for v in await engine.wait_ready(list(engine.units), timeout=3)}
    kinds = {name: v.kind for name, v in verdicts.items()}
    assert kinds == {"ok": "ready", "once": "completed", "slow": "timeout", "dies": "exited",
                     "loops": "crash_loop", "sick": "unhealthy", "noimage": "image_missing",
                     "port": "port_taken", "nocwd": "start_failed", "after": "held_back"}
    assert set(kinds.values()) == set(VERDICT_KINDS)
    # the probe's last answer travels with the verdicts that have a probe
    assert verdicts["sick"].last_probe == "scripted"
    assert verdicts["slow"].last_probe == "scripted"  # still starting when time ran out
    assert verdicts["once"].last_probe == ""  # no readiness probe
    assert engine.status_of("noimage").start_failure == "image_missing"
    await engine.stop()


@pytest.mark.timeout(60)
@virtual_time
async def test_a_start_that_succeeds_again_forgets_the_start_failure() -> None:
    runners = {"db": FakeRunner("db", runs=[Run(start_error=ImageUnavailableError("no")),
                                            Run()])}
    engine = make_engine([unit("db", restart="always", backoff=QUICK,
                               readiness=Probe(kind="tcp", port=1, interval=0.5))], runners)
    await engine.start()
    [verdict] = await engine.wait_ready(["db"], timeout=10)
    assert verdict.kind == "image_missing"
    await asyncio.sleep(1)  # restarted by its policy: this time the image is there
    [verdict] = await engine.wait_ready(["db"], timeout=10)
    assert verdict.ok and verdict.kind == "ready"
    assert engine.status_of("db").start_failure == ""
    assert not engine.status_of("db").start_failed
    await engine.stop()


EXIT_CODES = {"start_failed": 7, "held_back": 7, "timeout": 9, "exited": 10, "crash_loop": 11,
              "unhealthy": 12, "image_missing": 13, "port_taken": 14}
"""The documented exit codes (README, neodev/cli/common.py): stable for scripts."""


@pytest.mark.parametrize("kind", FAILURE_KINDS)
def test_every_failure_kind_has_its_documented_exit_code(kind: str) -> None:
    assert StartupFailed("x", kind=kind).exit_code == EXIT_CODES[kind]
    assert WAIT_EXIT_CODES[kind] == EXIT_CODES[kind]


def test_the_most_specific_failure_decides_the_wait() -> None:
    def verdict(name: str, kind: str) -> Verdict:
        return Verdict(unit=name, ok=False, state="crashed", health="none", kind=kind)
    result = WaitResult(ok=False, units=(verdict("a", "timeout"), verdict("b", "exited"),
                                         verdict("c", "held_back")))
    assert result.failure == "exited"
    assert WaitResult(ok=True).failure is None
    optional = Verdict(unit="g", ok=True, state="crashed", health="none", kind="image_missing",
                       optional=True)
    assert WaitResult(ok=False, units=(optional, verdict("d", "held_back"))).failure == \
        "held_back"
