"""What the daemon adds for reports: the state events since it started, and /v1/diagnostics.

The replay ring holds the latest events of every kind (a log flood pushes state changes out of
it within a second); a replay of state events only reaches back to the daemon's start through
its state history, which keeps no output lines and no CPU/memory samples. The diagnostics are
the running plan, the containers and the daemon's log, masked with the plan's secrets.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from neodev.client import calls
from neodev.engine.events import EventBus
from neodev.protocol import LogEvent, LogRecord, Resync, Snapshot, UnitChanged, UnitRecord
from tests.api.scripted import plan_of, process, scripted
from tests.supervisor.vclock import virtual_time


def test_a_replay_of_state_events_reaches_back_past_the_ring() -> None:
    bus = EventBus("x", replay=5)
    bus.emit(UnitChanged, status=UnitRecord("db", "process"), changed=("state",))
    bus.emit(UnitChanged, status=UnitRecord("db", "process"), changed=("cpu_percent",))
    for i in range(20):
        bus.emit(LogEvent, record=LogRecord(i, "db", 0.0, "stdout", "x"))
    bus.emit(UnitChanged, status=UnitRecord("db", "process"), changed=("health",))
    assert bus.replay_since(0) is None  # the ring lost the first events: a resync
    assert bus.replay_since(0, ["log"]) is None
    replay = bus.replay_since(0, ["unit", "reload", "job"])
    assert replay is not None
    assert [e.seq for e in replay] == [1, 23]  # no sample, no line
    assert bus.replay_since(22, ["unit"]) == [e for e in replay if e.seq > 22]


def test_a_history_that_lost_its_oldest_events_does_not_pretend_otherwise() -> None:
    bus = EventBus("x", replay=2)
    bus._history = type(bus._history)(maxlen=3)  # as if 10,000 state events had passed
    for _ in range(5):
        bus.emit(UnitChanged, status=UnitRecord("db", "process"), changed=("state",))
    assert bus.replay_since(0, ["unit"]) is None
    assert [e.seq for e in bus.replay_since(2, ["unit"]) or []] == [3, 4, 5]


@virtual_time
async def test_the_event_stream_since_the_start_survives_a_flood(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, process("db", tmp_path))
    async with scripted(tmp_path, plan) as s:
        await s.client.call(calls.start())
        await asyncio.sleep(2)
        for i in range(12_000):  # more lines than the replay ring holds
            s.env.logs.append("db", f"line {i}", "stdout", 0.0)
        request = calls.events(since=0, types=["unit", "reload", "job"], follow=False)
        events = [e async for e in s.client.stream(request)]
        assert not any(isinstance(e, (Resync, Snapshot)) for e in events)
        assert events[0].seq == 1
        states = [str(e.status.state) for e in events if isinstance(e, UnitChanged)]
        assert states.index("starting") < states.index("running")
        plain = [e async for e in s.client.stream(calls.events(since=0, follow=False))]
        assert isinstance(plain[0], Resync)  # all types: the ring, which lost them


@virtual_time
async def test_diagnostics_are_the_masked_plan_and_the_daemon_log(tmp_path: Path) -> None:
    secret = "diag-secret-4242"
    plan = plan_of(tmp_path, process("db", tmp_path, env={"DB_PASSWORD": secret}))
    (tmp_path / ".neodev").mkdir(exist_ok=True)
    (tmp_path / ".neodev" / "daemon.log").write_text(
        "".join(f"old line {i}\n" for i in range(40_000)) + f"connected with {secret}\n")
    async with scripted(tmp_path, plan) as s:
        found = await s.client.call(calls.diagnostics())
    assert found.config["processes"]["db"]["env"]["DB_PASSWORD"] == "********"
    assert found.containers == () and found.engine_error is None  # no container units
    assert found.daemon_log[-1] == "connected with ********"
    assert found.daemon_log_cut > 0  # the start of the log is left out, in whole lines:
    assert all(re.fullmatch(r"old line \d+", line) for line in found.daemon_log[:-1])
    assert 0 < len(found.daemon_log) < 40_000
    assert secret not in repr(found)
