"""`neodev mcp` through the MCP SDK's own client over stdio, against a real daemon running real
processes (one daemon for the module, started by the real CLI).

Each test opens its own session (a fresh `python -m neodev mcp`), as an agent's client does.
The client checks every structured answer against the tool's output schema by itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from mcp import ClientSession

from tests.mcp.harness import (
    SECRET_IN_ENV_FILE,
    SECRET_IN_PROFILE,
    SECRET_IN_URL,
    SECRETS,
    Workspace,
    call,
    refusal,
    session,
    write_workspace,
)
from tests.waiting import until_async

pytestmark = pytest.mark.timeout(240)

READ_TOOLS = {"status", "unit_details", "wait_ready", "search_logs", "startup_timeline",
              "observability_urls", "db_list_snapshots", "instances"}
ACTION_TOOLS = {"start", "stop", "restart_unit", "reload_unit", "db_take_snapshot",
                "db_restore_snapshot", "down"}
DESTRUCTIVE = {"stop", "restart_unit", "reload_unit", "db_restore_snapshot", "down"}


def neodev(ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "neodev", *args], cwd=ws.root, env=ws.env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    ws = write_workspace(tmp_path_factory.mktemp("mcp"))
    started = neodev(ws, "start", "--wait", "--timeout", "60", "app", "chatty", "leaky")
    assert started.returncode == 0, started.stdout + started.stderr
    yield ws
    neodev(ws, "stop")


def fetch(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
        return str(answer.read().decode())


async def wait_for_reloading(client: ClientSession, unit: str, timeout: float = 20) -> None:
    """Until `status` says `unit` is reloading (its build step takes 1.5 s)."""
    await until_async(lambda: call(client, "status"), f"{unit} reloading", timeout,
                      ok=lambda status: unit in status["reloading"], interval=0.05)


async def test_every_tool_is_listed_with_its_schemas_and_annotations(running: Workspace
                                                                     ) -> None:
    async with session(running) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == READ_TOOLS | ACTION_TOOLS
    for name, tool in tools.items():
        assert tool.description and tool.input_schema["type"] == "object"
        assert tool.output_schema is not None and tool.output_schema["type"] == "object", name
        hints = tool.annotations
        assert hints is not None and hints.title and hints.open_world_hint is False
        assert hints.read_only_hint is (name in READ_TOOLS), name
        assert hints.destructive_hint is (name in DESTRUCTIVE), name
    # The records' field docstrings describe the answers.
    status_fields = tools["status"].output_schema["properties"]  # type: ignore[index]
    assert "start" in status_fields["running"]["description"]
    limit = tools["search_logs"].input_schema["properties"]["limit"]
    assert limit["maximum"] == 200 and limit["minimum"] == 1


async def test_status_details_timeline_and_urls_describe_the_environment(running: Workspace
                                                                         ) -> None:
    async with session(running) as client:
        status = await call(client, "status")
        details = await call(client, "unit_details", unit="app")
        timeline = await call(client, "startup_timeline", units=["app", "chatty"])
        telemetry = await call(client, "observability_urls")
        no_postgres = await refusal(client, "db_list_snapshots")
    assert status["running"] is True and status["workspace"] == str(running.root)
    units = {u["name"]: u for u in status["units"]}
    assert units["app"]["ready"] is True and units["app"]["state"] == "running"
    assert f"127.0.0.1:{running.port}" in " ".join(units["app"]["endpoints"])
    assert units["broken"]["state"] == "pending"
    assert details["status"]["name"] == "app"
    assert details["readiness"]["url"] == f"http://127.0.0.1:{running.port}/"
    assert {"starting", "running", "ready"} <= {step["what"] for step in details["timeline"]}
    steps = timeline["steps"]
    assert [s["ts"] for s in steps] == sorted(s["ts"] for s in steps)
    assert {(s["unit"], s["what"]) for s in steps} >= {("app", "ready"), ("chatty", "running")}
    assert "logs" in telemetry and "urls" in telemetry
    assert "Postgres" in no_postgres or "postgres" in no_postgres


async def test_the_instance_is_named_and_the_machine_s_instances_listed(running: Workspace
                                                                       ) -> None:
    async with session(running) as client:
        status = await call(client, "status")
        machine = await call(client, "instances")
    instance = status["instance"]
    assert instance["name"] and instance["workspace"] == str(running.root.resolve())
    assert {p["host"] for p in instance["ports"]} >= {running.port}
    assert machine["this"] == instance["name"]
    listed = {i["name"]: i for i in machine["instances"]}
    assert listed[instance["name"]]["state"] == "running"
    assert listed[instance["name"]]["workspace"] == str(running.root.resolve())
    # From anywhere, a server can be pointed at an instance of this machine by its name.
    elsewhere = replace(running, root=running.root.parent / "no-workspace-here")
    async with session(elsewhere, "--serve-instance", instance["name"]) as client:
        served = await call(client, "status")
    assert served["running"] is True and served["instance"]["name"] == instance["name"]
    unknown = neodev(running, "mcp", "--serve-instance", "no-such-instance")
    assert unknown.returncode == 2
    assert "no-such-instance" in unknown.stderr and instance["name"] in unknown.stderr


async def test_log_search_answers_bounded_pages_with_ids_to_page_on(running: Workspace) -> None:
    async with session(running) as client:
        newest = await call(client, "search_logs", units=["chatty"], limit=50)
        older = await call(client, "search_logs", units=["chatty"], limit=50,
                           before_id=newest["next_before_id"])
        errors = await call(client, "search_logs", units=["chatty"], levels=["error"])
        hundreds = await call(client, "search_logs", units=["chatty"], regex=r"line 1\d\d$",
                              limit=200)
        oldest = await call(client, "search_logs", units=["chatty"], after_id=0, limit=10)
        one = await call(client, "search_logs", text="CHATTY LINE 299")
        exact = await call(client, "search_logs", text="CHATTY LINE 299", case_sensitive=True)
    lines = [r["line"] for r in newest["lines"]]
    assert len(lines) == 50 and newest["more"] is True
    assert lines[-1].startswith("LONG ") and lines[-1].endswith("more characters]")
    assert len(lines[-1]) < 600 and newest["shortened"] == 1
    assert lines[-2] == "INFO chatty line 299"
    assert max(r["id"] for r in older["lines"]) < newest["lines"][0]["id"]
    assert [r["line"] for r in older["lines"]][-1] == "INFO chatty line 250"
    assert [r["line"] for r in errors["lines"]] == [
        "ERROR chatty line 7", "ERROR chatty line 107", "ERROR chatty line 207"]
    assert all(r["level"] == "error" for r in errors["lines"])
    assert len(hundreds["lines"]) == 100 and hundreds["more"] is False
    assert oldest["lines"][0]["line"] == "INFO chatty line 0"
    assert oldest["next_after_id"] == oldest["lines"][-1]["id"]
    assert [r["line"] for r in one["lines"]] == ["INFO chatty line 299"]
    assert exact["lines"] == []


async def test_a_reload_is_seen_through_wait_ready_and_a_broken_build_is_explained(
        running: Workspace) -> None:
    source = running.app / "src"
    async with session(running) as client:
        (source / "version.txt").write_text("v2\n")
        await wait_for_reloading(client, "app")  # building: the old process still serves
        reloaded = await call(client, "wait_ready", units=["app"], timeout_seconds=60)
        assert fetch(running.port) == "v2"

        (source / "BROKEN").write_text("x")
        await wait_for_reloading(client, "app")
        broken = await call(client, "wait_ready", units=["app"], timeout_seconds=60)
        assert fetch(running.port) == "v2"  # a failed build keeps the running process

        (source / "BROKEN").unlink()
        await wait_for_reloading(client, "app")
        await call(client, "wait_ready", units=["app"], timeout_seconds=60)
    assert reloaded["ok"] is True and reloaded["still_reloading"] == []
    [last] = [r["last_reload"] for r in reloaded["reloads"] if r["unit"] == "app"]
    assert last["outcome"] == "ok" and "version.txt" in last["cause"]
    [failed] = [r["last_reload"] for r in broken["reloads"] if r["unit"] == "app"]
    assert failed["outcome"] == "build_failed" and "BROKEN" in failed["cause"]
    assert "compile error: src/BROKEN is present" in failed["detail"]


async def test_a_failure_is_traced_to_its_root_cause_and_bad_arguments_say_what_is_valid(
        running: Workspace) -> None:
    async with session(running) as client:
        started = await call(client, "start", units=["needs_broken"])
        verdicts = await call(client, "wait_ready", units=["needs_broken"], timeout_seconds=30)
        negative = await refusal(client, "wait_ready", timeout_seconds=-1)
        too_long = await refusal(client, "wait_ready", timeout_seconds=10_000)
        level = await refusal(client, "search_logs", levels=["fatal"])
        page = await refusal(client, "search_logs", limit=100_000)
        unknown = await refusal(client, "unit_details", unit="nope")
        regex = await refusal(client, "search_logs", regex="(unclosed")
        await call(client, "stop", units=["needs_broken", "broken"])
    assert set(started["started"]) == {"broken", "needs_broken"}
    assert started["spawned"] is False
    by_unit = {v["unit"]: v for v in verdicts["units"]}
    assert verdicts["ok"] is False
    assert by_unit["needs_broken"]["held_back_by"] == "broken"
    assert "3" in by_unit["broken"]["reason"]
    assert any("broken cannot start" in line for line in by_unit["broken"]["last_logs"])
    assert "greater than or equal to 0" in negative
    assert "less than or equal to 600" in too_long
    assert "'error'" in level and "'debug'" in level
    assert "less than or equal to 200" in page
    assert "valid services" in unknown and "app" in unknown and "chatty" in unknown
    assert "not a valid regular expression" in regex


async def test_secrets_never_reach_the_agent_in_answers_or_errors(running: Workspace) -> None:
    answers: list[str] = []
    async with session(running) as client:
        for tool, arguments in (
                ("status", {}), ("startup_timeline", {}), ("observability_urls", {}),
                ("wait_ready", {"units": ["leaky", "app"], "timeout_seconds": 10}),
                ("search_logs", {"limit": 200}), ("search_logs", {"units": ["leaky"]}),
                ("unit_details", {"unit": "leaky"}), ("unit_details", {"unit": "app"})):
            answers.append(json.dumps(await call(client, tool, **arguments)))
        leaky = json.loads(answers[5])
        # Errors that repeat what they were given: the daemon echoes an invalid regex. (A URL
        # password is a secret in a URL; the plan's secrets are secrets anywhere.)
        for given in (SECRET_IN_ENV_FILE, SECRET_IN_PROFILE, f"postgres://a:{SECRET_IN_URL}@db"):
            answers.append(await refusal(client, "search_logs", regex=f"({given}"))
    for secret in SECRETS:
        assert not [a for a in answers if secret in a], f"{secret} reached the agent"
    leaked = " ".join(r["line"] for r in leaky["lines"])
    assert "db password=" in leaked and "api token" in leaked and "postgres://app:" in leaked
    assert "********" in leaked
    assert "not a valid regular expression" in answers[-1]


async def test_actions_restart_reload_stop_and_start_units(running: Workspace) -> None:
    async with session(running) as client:
        before = {u["name"]: u for u in (await call(client, "status"))["units"]}
        restarted = await call(client, "restart_unit", unit="app")
        reloaded = await call(client, "reload_unit", unit="app")
        stopped = await call(client, "stop", units=["leaky"])
        after_stop = {u["name"]: u for u in (await call(client, "status"))["units"]}
        started = await call(client, "start", units=["leaky"])
        ready = await call(client, "wait_ready", units=["leaky", "app"], timeout_seconds=30)
    assert restarted["unit"]["restarts"] == before["app"]["restarts"] + 1
    assert reloaded["unit"]["last_reload"]["outcome"] == "ok"
    assert stopped["stopped"] == ["leaky"] and after_stop["leaky"]["state"] == "stopped"
    assert started == {"started": ["leaky"], "spawned": False, "warnings": [],
                       "generated_secrets": [], "secrets_file": None}
    assert ready["ok"] is True


async def test_data_is_never_lost_without_an_explicit_confirmation(running: Workspace) -> None:
    async with session(running) as client:
        refused = await refusal(client, "down", volumes=True)
        status = await call(client, "status")
    assert "confirm=true" in refused and "Nothing was changed" in refused
    assert status["running"] is True


async def test_read_only_mode_offers_only_the_tools_that_change_nothing(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path)
    async with session(ws, "--read-only") as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        refused = await refusal(client, "start")
        status = await call(client, "status")
    assert names == READ_TOOLS
    assert "Unknown tool" in refused
    assert status["running"] is False
    assert not (ws.root / ".neodev" / "daemon.json").exists()


async def test_the_daemon_starts_only_when_start_is_called_and_its_death_is_reported(
        tmp_path: Path) -> None:
    ws = write_workspace(tmp_path)
    try:
        async with session(ws) as client:
            assert (await call(client, "status"))["running"] is False
            absent = await refusal(client, "unit_details", unit="app")
            assert not (ws.root / ".neodev" / "daemon.json").exists()

            started = await call(client, "start", units=["app"])
            assert (await call(client, "wait_ready", units=["app"]))["ok"] is True
            _kill_daemon(ws)
            dead = await call(client, "status")
            gone = await refusal(client, "search_logs")
            tools = (await client.list_tools()).tools  # the server itself carries on

            again = await call(client, "start", units=["app"])  # reaps the orphaned app
            assert (await call(client, "wait_ready", units=["app"]))["ok"] is True
    finally:
        neodev(ws, "stop")
    assert "no neodev environment is running" in absent and "start" in absent
    assert started["spawned"] is True and started["started"] == ["app"]
    assert dead["running"] is False
    assert "no neodev environment is running" in gone
    assert len(tools) == len(READ_TOOLS | ACTION_TOOLS)
    assert again["spawned"] is True


def _kill_daemon(ws: Workspace) -> None:
    """SIGKILL the workspace's daemon (only the process its status file names)."""
    import psutil

    info = json.loads((ws.root / ".neodev" / "daemon.json").read_text())
    daemon = psutil.Process(info["pid"])
    assert daemon.create_time() == info["create_time"]
    daemon.kill()
    daemon.wait(timeout=10)
