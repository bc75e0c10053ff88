"""Secrets in what a unit's status says: a failure reason or a probe's answer that quotes a
secret reaches no client unmasked — not `GET /v1/status`, not the event stream, not the unit's
details, not the dashboard's fold of the stream.

Scripted runners (tests/api/scripted.py) under virtual time, through the API.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from neodev.client import calls
from neodev.engine.runner import HealthReport
from neodev.protocol import Health, Snapshot, encode
from neodev.tui.view import EnvironmentView
from tests.api.scripted import plan_of, process, scripted
from tests.supervisor.fakes import FakeRunner, Run
from tests.supervisor.vclock import virtual_time

SECRET = "tok-3f9a7c21e5"


class LeakyProbe(FakeRunner):
    """A unit whose health endpoint echoes its token in its answer (as debug pages do)."""

    async def health(self) -> HealthReport:
        self.health_checks += 1
        return HealthReport(Health.UNHEALTHY, f"GET /health -> 500: bad token={SECRET}")


@virtual_time
async def test_reasons_and_probe_details_quoting_a_secret_are_masked_everywhere(
        tmp_path: Path) -> None:
    env = {"API_TOKEN": SECRET}
    plan = plan_of(tmp_path, process("api", tmp_path, env=env),
                   process("worker", tmp_path, env=env, restart="no"),
                   variables={"API_TOKEN": SECRET})
    runners = {"api": LeakyProbe("api"),
               "worker": FakeRunner("worker", runs=[Run(
                   start_error=f"cannot log in to the queue with {SECRET}")])}
    async with scripted(tmp_path, plan, runners) as s:
        await s.client.call(calls.start())
        await asyncio.sleep(3)
        status = await s.client.call(calls.status())
        events = [e async for e in s.client.stream(calls.events(since=0, follow=False))]
        details = [await s.client.call(calls.unit(name)) for name in ("api", "worker")]
        snapshot = [e async for e in s.client.stream(calls.events(follow=False))]

    units = {u.name: u for u in status.units}
    # The secret was there to leak: the records carry the masked texts instead.
    assert units["api"].health_detail == "GET /health -> 500: bad token=********"
    assert units["worker"].reason == "failed to start: cannot log in to the queue with ********"
    view = EnvironmentView()
    for event in [*snapshot, *events]:
        view.apply(event)
    assert isinstance(snapshot[0], Snapshot)
    assert view.units["worker"].reason == units["worker"].reason
    told = [problem.text for problem in view.problems()]
    assert any("********" in text for text in told)
    for what, record in (("status", status), ("events", events), ("details", details),
                         ("dashboard", [view.units, told])):
        assert SECRET not in str(encode(record)), what
