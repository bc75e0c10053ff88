"""`GET /v1/status` shows CPU and memory as soon as a unit runs, not only once a client follows
the event stream (issue 20): the request asks the engine for a sample, bounded in time."""

from __future__ import annotations

import asyncio
from pathlib import Path

from neodev.client import calls
from neodev.client.aio import AsyncDaemonClient
from neodev.engine.engine import ON_DEMAND_STATS_TIMEOUT
from neodev.engine.runner import Stats
from neodev.protocol import encode
from tests.api.scripted import plan_of, process, scripted
from tests.supervisor.fakes import FakeRunner
from tests.supervisor.vclock import virtual_time
from tests.waiting import until_async


class SlowStatsRunner(FakeRunner):
    """Stats that take as long as Docker's (it samples twice, 1-2 s apart)."""

    def __init__(self, name: str, delay: float) -> None:
        super().__init__(name)
        self.delay = delay
        self.samples = 0

    async def stats(self) -> Stats | None:
        self.samples += 1
        await asyncio.sleep(self.delay)
        return Stats(cpu_percent=12.5, memory_bytes=4096)


async def _units(client: AsyncDaemonClient) -> dict[str, dict[str, object]]:
    status = await client.call(calls.status())
    return {u.name: encode(u) for u in status.units}


@virtual_time
async def test_status_right_after_a_start_shows_cpu_and_memory(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, process("api", tmp_path))
    async with scripted(tmp_path, plan) as s:
        await s.client.call(calls.start())
        # running, and nobody follows the event stream
        await until_async(lambda: s.env.engine.status_of("api").ready, "api ready", 30,
                          interval=0.1)
        assert not s.env.bus.looking.is_set()
        assert s.env.engine.status_of("api").cpu_percent is None  # no periodic sample yet
        api = (await _units(s.client))["api"]
        assert (api["cpu_percent"], api["memory_bytes"]) == (1.5, 1024)


@virtual_time
async def test_a_slow_sample_holds_the_answer_up_only_so_long(tmp_path: Path) -> None:
    slow = SlowStatsRunner("db", delay=1.5)
    plan = plan_of(tmp_path, process("db", tmp_path))
    async with scripted(tmp_path, plan, {"db": slow}) as s:
        await s.client.call(calls.start())
        await until_async(lambda: s.env.engine.status_of("db").ready, "db ready", 30,
                          interval=0.1)
        loop = asyncio.get_running_loop()
        asked = loop.time()
        db = (await _units(s.client))["db"]
        assert loop.time() - asked <= ON_DEMAND_STATS_TIMEOUT + 0.01
        assert db["cpu_percent"] is None  # still sampling: said as unknown, not waited for
        again = (await _units(s.client))["db"]  # the sample in flight is not taken twice
        assert again["cpu_percent"] is None and slow.samples == 1
        await asyncio.sleep(1.5)
        db = (await _units(s.client))["db"]  # it landed; fresh enough not to sample again
        assert (db["cpu_percent"], db["memory_bytes"]) == (12.5, 4096)
        assert slow.samples == 1
        await asyncio.sleep(2.5)  # older than the stats interval: sampled again, meanwhile
        asked = loop.time()  # the last sample answers at once
        db = (await _units(s.client))["db"]
        assert loop.time() - asked < 0.05
        assert (db["cpu_percent"], db["memory_bytes"]) == (12.5, 4096)
        await asyncio.sleep(0.01)  # the new sample has begun
        assert slow.samples == 2


@virtual_time
async def test_stopped_units_are_not_sampled(tmp_path: Path) -> None:
    slow = SlowStatsRunner("db", delay=0.1)
    plan = plan_of(tmp_path, process("db", tmp_path))
    async with scripted(tmp_path, plan, {"db": slow}) as s:
        db = (await _units(s.client))["db"]
        assert db["cpu_percent"] is None and slow.samples == 0
