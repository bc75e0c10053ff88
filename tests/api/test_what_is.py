"""What a client sees is what is: details with the values a process runs with, and the lines
that answer neodev's own probes marked and hidden on request, in the daemon.

The real API over scripted runners (tests/api/scripted.py), under virtual time.
"""

from __future__ import annotations

from pathlib import Path

from neodev.client import calls
from neodev.config.model import ContainerSpec, PortMapping, Probe
from neodev.protocol import encode
from tests.api.scripted import plan_of, process, scripted
from tests.supervisor.fakes import FakeRunner
from tests.supervisor.vclock import virtual_time

PROBE_LINE = '127.0.0.1 - - "GET /health HTTP/1.1" 200 -'


@virtual_time
async def test_details_show_a_process_s_settings_with_its_references_resolved(
        tmp_path: Path) -> None:
    postgres = ContainerSpec(name="postgres", service="postgres", image="postgres:18-alpine",
                             ports=(PortMapping(container_port=5432, host_port=15432),))
    env = {"DB_PORT": "@{postgres:5432}", "DB_PASSWORD": "s3cret-value",
           "DATABASE_URL": "postgresql://app:s3cret-value@127.0.0.1:@{postgres:5432}/app"}
    api = process("api", tmp_path, env=env,
                  readiness=Probe(kind="http", url="http://127.0.0.1:@{postgres:5432}/ready"))
    api = api.model_copy(update={"command": ("./run", "--db-port", "@{postgres:5432}")})
    plan = plan_of(tmp_path, api, variables={"DB_PASSWORD": "s3cret-value"})
    plan = plan.model_copy(update={"containers": {"postgres": postgres}})
    async with scripted(tmp_path, plan) as s:
        details = await s.client.call(calls.unit("api"))
        assert details.spec["env"]["DB_PORT"] == "15432"
        assert details.spec["env"]["DATABASE_URL"] == "postgresql://app:********@127.0.0.1:15432/app"
        assert details.spec["command"] == ["./run", "--db-port", "15432"]
        assert details.readiness is not None
        assert details.readiness.url == "http://127.0.0.1:15432/ready"
        text = str(encode(details))
        assert "@{" not in text and "s3cret-value" not in text
        # the container's own details are as configured
        assert (await s.client.call(calls.unit("postgres"))).spec["image"] == "postgres:18-alpine"


@virtual_time
async def test_lines_answering_the_probes_are_marked_and_hidden_on_request(
        tmp_path: Path) -> None:
    plan = plan_of(tmp_path, process("api", tmp_path))
    runners = {"api": FakeRunner("api", probe_marker="GET /health")}
    async with scripted(tmp_path, plan, runners) as s:
        sink = runners["api"].sink
        assert sink is not None  # the daemon's: the runner says which lines answer a probe
        for i in range(3):
            sink(f"handled order {i}", "stdout", float(i))
            sink(PROBE_LINE, "stdout", float(i))
        everything = await s.client.call(calls.logs(["api"]))
        mine = [r for r in everything.lines if "order" in r.line or "GET" in r.line]
        assert [r.probe for r in mine] == [False, True] * 3
        hidden = await s.client.call(calls.logs(["api"], probes=False))
        assert [r.line for r in hidden.lines if "GET" in r.line] == []
        assert [r.line for r in hidden.lines if "order" in r.line] == [
            f"handled order {i}" for i in range(3)]
        # a search honours it too (a follower is tested through the real CLI: `logs -f`)
        searched = await s.client.call(calls.logs(["api"], q="1", probes=False))
        assert [r.line for r in searched.lines] == ["handled order 1"]
