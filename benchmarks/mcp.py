"""The agent server's tools against the same calls through `neodev` commands; its idle cost.

What is measured, in one run, the two ways interleaved call by call:
- through MCP: one `neodev mcp` server, started as an agent's client starts it (the SDK's
  stdio `ClientSession`), then warm: `status`; `search_logs` answering 200 lines (`limit=200`,
  one unit that printed 1,000); `wait_ready` on a unit that is already ready. Each is the time
  from the client's call to its answer, checked by the client against the output schema;
- through the CLI, as an agent that shells out does (spawn to exit, output captured):
  `neodev status --json`; `neodev logs -n 200 chatty`; `neodev start --wait app` (nothing to
  start, then a wait on a ready unit);
- the server's own cost: its start (spawn to `initialize` answered, and to the first answer),
  and, with the environment running and nothing asked, its memory (RSS, USS) and CPU over
  `--idle` seconds.

The environment: a scratch workspace of two process units (no Docker), `app` (a stdlib HTTP
server with a readiness probe) and `chatty` (prints 1,000 lines, then sleeps), started with
`neodev start --wait` and stopped at the end.

Usage:
    .venv/bin/python benchmarks/mcp.py [--runs 30] [--idle 10] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psutil

# This script is named like the SDK it drives, and a script's own directory comes first on
# sys.path: take it out while the SDK is imported, then put it back for benchlib.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
from mcp import ClientSession  # noqa: E402
from mcp.client.stdio import StdioServerParameters, stdio_client  # noqa: E402
from mcp_types import CallToolResult  # noqa: E402

sys.path[:0] = [str(_HERE), str(_HERE.parent)]
from benchlib import Summary, free_ports, kill_daemon, kill_strays, ratio  # noqa: E402

from tests.apps import WEB  # noqa: E402

PYTHON = sys.executable
NEODEV = str(Path(sys.executable).with_name("neodev"))
TIMEOUT = 60
CHATTY = ("import time\nfor i in range(1000):\n    print(f'INFO request {i} served', flush=True)\n"
          "time.sleep(86400)\n")

MCP_CALLS: dict[str, tuple[str, dict[str, Any]]] = {
    "status": ("status", {}),
    "logs: 200 lines": ("search_logs", {"units": ["chatty"], "limit": 200}),
    "wait on a ready unit": ("wait_ready", {"units": ["app"], "timeout_seconds": 30}),
}
CLI_CALLS: dict[str, list[str]] = {
    "status": ["status", "--json"],
    "logs: 200 lines": ["logs", "-n", "200", "chatty"],
    "wait on a ready unit": ["start", "--wait", "--timeout", "30", "app"],
}


def workspace(root: Path) -> dict[str, str]:
    """A two-unit workspace in `root`; the environment for commands run in it."""
    (root / "profiles").mkdir(parents=True)
    (root / "chatty.py").write_text(CHATTY)
    [port] = free_ports(1)
    (root / "profiles" / "local.toml").write_text(textwrap.dedent(f"""\
        [project]
        name = "mcpbench"

        [processes.app]
        cwd = ".."
        command = ["{PYTHON}", "{WEB}", "--banner", "serving"]
        env = {{ PORT = "{port}" }}
        port = {port}
        readiness = {{ http = "http://127.0.0.1:{port}/", interval = 0.2 }}

        [processes.chatty]
        cwd = ".."
        command = ["{PYTHON}", "chatty.py"]
        """))
    return {**os.environ, "NEODEV_WORKSPACE": str(root), "NO_COLOR": "1"}


def cli(env: dict[str, str], *args: str) -> float:
    """Seconds one `neodev` command takes, spawn to exit (it must succeed)."""
    started = time.perf_counter()
    proc = subprocess.run([NEODEV, *args], env=env, capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)
    took = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"neodev {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return took


async def timed(call: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await call()
    return time.perf_counter() - started, result


async def tool(client: ClientSession, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(name, arguments)
    assert isinstance(result, CallToolResult) and not result.is_error, result
    assert isinstance(result.structured_content, dict)
    return result.structured_content


def server_process() -> psutil.Process:
    """The `neodev mcp` child of this process (started by the SDK's stdio client)."""
    for child in psutil.Process().children(recursive=True):
        if "mcp" in child.cmdline() and "neodev" in " ".join(child.cmdline()):
            return child
    raise SystemExit("the neodev mcp server process was not found")


async def measure(env: dict[str, str], runs: int, idle: float) -> None:
    params = StdioServerParameters(command=PYTHON, args=["-m", "neodev", "mcp"], env=env)
    with open(os.devnull, "w") as quiet:
        spawned = time.perf_counter()
        async with stdio_client(params, errlog=quiet) as (read, write), \
                ClientSession(read, write, read_timeout_seconds=TIMEOUT) as client:
            await client.initialize()
            initialized = time.perf_counter() - spawned
            await tool(client, "status", {})
            first = time.perf_counter() - spawned
            server = server_process()
            page = await tool(client, "search_logs", MCP_CALLS["logs: 200 lines"][1])
            assert len(page["lines"]) == 200, len(page["lines"])
            print(f"server start: initialize answered after {initialized * 1e3:.0f} ms, "
                  f"first answer (status) after {first * 1e3:.0f} ms")
            mcp_times: dict[str, list[float]] = {name: [] for name in MCP_CALLS}
            cli_times: dict[str, list[float]] = {name: [] for name in CLI_CALLS}
            for name, (tool_name, arguments) in MCP_CALLS.items():  # warm both paths once
                await tool(client, tool_name, arguments)
                cli(env, *CLI_CALLS[name])
            for _ in range(runs):
                for name, (tool_name, arguments) in MCP_CALLS.items():
                    took, _ = await timed(lambda t=tool_name, a=arguments: tool(client, t, a))
                    mcp_times[name].append(took)
                    cli_times[name].append(cli(env, *CLI_CALLS[name]))
            print(f"\nlatency, {runs} calls each, interleaved (CLI = spawn to exit, as an agent "
                  "shelling out pays it)")
            for name in MCP_CALLS:
                m, c = Summary.of(mcp_times[name]), Summary.of(cli_times[name])
                print(f"  {name}")
                print(f"    MCP  {m.ms()}")
                print(f"    CLI  {c.ms()}")
                print(f"    CLI / MCP (medians) {ratio(c.median, m.median)}")
            await asyncio.sleep(1.0)  # let the calls' garbage settle
            cpu_before = sum(server.cpu_times()[:2])
            await asyncio.sleep(idle)
            cpu = (sum(server.cpu_times()[:2]) - cpu_before) / idle * 100
            memory = server.memory_full_info()
            print(f"\nserver idle ({idle:.0f} s, environment running, reload events followed): "
                  f"RSS {memory.rss / 2**20:.1f} MiB, USS {memory.uss / 2**20:.1f} MiB, "
                  f"CPU {cpu:.2f} % of one core")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="5 runs, 3 s idle")
    args = parser.parse_args()
    runs, idle = (5, 3.0) if args.quick else (args.runs, args.idle)
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"benchmarks/mcp.py: {os.cpu_count()} cores (load {load}), Python "
          f"{sys.version.split()[0]}, {time.strftime('%Y-%m-%d %H:%M')}")
    with tempfile.TemporaryDirectory(prefix="neodev-mcp-bench-") as tmp:
        root = Path(tmp) / "ws"
        env = workspace(root)
        try:
            cli(env, "start", "--wait", "--timeout", "60")
            asyncio.run(measure(env, runs, idle))
        finally:
            subprocess.run([NEODEV, "stop"], env=env, capture_output=True, timeout=TIMEOUT,
                           check=False)
            kill_daemon(root)
            kill_strays(root)
    print(json.dumps({"runs": runs, "idle_seconds": idle}))


if __name__ == "__main__":
    main()
