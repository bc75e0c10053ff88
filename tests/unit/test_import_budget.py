"""What each code path may import, as one table, checked in fresh interpreters.

Start-up time and memory go mostly to importing packages a path does not need, and the house
rules keep some packages out of some rooms. Each case of BUDGET runs its real code path in a
new interpreter under `-X importtime` (tests/importchain.py) and must not have loaded any of
its forbidden packages; a leak names the chain of imports that brought the package in, so the
fix is obvious. The cases:

- the short commands (`--version`, `status`, `status --json`, `logs -n 10`) answer in well under
  100 ms (issue "Fast where people feel it"); `status` and `logs` run their real code path
  against a stand-in daemon: a stdlib HTTP server on a Unix socket in this process, announced
  in `.neodev/daemon.json` exactly as the daemon does, answering with `neodev.protocol` records;
- `neodev config` answered from its stored answer loads neither pydantic nor yaml;
- an idle daemon stays under 50 MiB RSS with the demo's three processes
  (benchmarks/daemon_idle.py): the real daemon (`neodev.daemon.server.main`, the plan handed over
  on stdin as `neodev start` does) runs a real process with a port, an HTTP probe and a watcher,
  is driven through its API (start, wait, status, logs, events, details) and shut down;
- the pytest plugin loads without Docker, testcontainers, psycopg or a UI; the container-args
  module without the docker SDK;
- only neodev.tui imports textual: every other module (found by pkgutil, so a new one is covered
  the day it is added) is imported in one fresh interpreter, and the chain names the module that
  brought textual in (an earlier import in this process cannot hide a leak).

The controls, showing the check can fail: `import neodev.config.model` must show pydantic with
its chain; `neodev config` with nothing stored must import pydantic and yaml; a daemon with a
container in its plan must show the docker SDK, imported by the container driver.
"""

from __future__ import annotations

import contextlib
import json
import os
import pkgutil
import shutil
import signal
import socketserver
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

import neodev
from neodev.client import DaemonClient, calls
from neodev.client.spawn import hand_over_plan, wait_for_daemon
from neodev.config.model import ContainerSpec, EnvironmentPlan, Probe, ProcessSpec
from neodev.paths import WorkspacePaths
from neodev.protocol import LogRecord, UnitRecord, UnitState, encode
from neodev.rendezvous import DaemonInfo, DaemonLock, write_info
from tests.importchain import Loaded, import_errors, probe_argv, probe_env, run_probe
from tests.ports import free_port
from tests.unit.test_config_cache import PROFILE, WS

CLI = ("pydantic", "httpx", "docker", "starlette", "uvicorn", "textual", "yaml", "mcp",
       "mcp_types", "asyncio", "neodev.report", "neodev.inventory", "tempfile", "hashlib")
"""What no short command may import (asyncio: ~20 ms, and only `start --wait` streams; the
modules of other commands: `neodev.cli.COMMAND_MODULES` imports a command's own)."""
DAEMON = ("docker", "requests", "fastapi", "yaml", "rich")
"""What a daemon without containers must not import (rich: httpx's command-line client)."""
PLUGIN = ("docker", "testcontainers", "psycopg", "textual", "starlette", "uvicorn",
          "neodev.daemon", "neodev.tui")
"""What loading the pytest plugin must not cost (its fixtures import them when used)."""
OUTSIDE_TUI = ("neodev.tui",)
"""The only package that imports textual."""

Run = Callable[[Path], Loaded]
"""A code path run in a fresh interpreter inside a temporary directory: what it imported."""


@dataclass(frozen=True)
class Budget:
    run: Run
    forbidden: tuple[str, ...] = ()
    required: dict[str, str] = field(default_factory=dict)
    """Package -> a link its import chain must show: the controls, and proof that the case
    really ran its path."""


def imports(*modules: str) -> Run:
    return lambda tmp: run_probe("import", *modules, cwd=tmp)


def core_modules() -> list[str]:
    """Every neodev module except the TUI package (and __main__, which runs the CLI)."""
    names = ["neodev"]
    for info in pkgutil.walk_packages(neodev.__path__, prefix="neodev."):
        if not info.name.startswith(OUTSIDE_TUI) and not info.name.endswith(".__main__"):
            names.append(info.name)
    return sorted(names)


# -- the CLI -----------------------------------------------------------------------------------

def command(*args: str, stand_in: bool = False) -> Run:
    """`neodev ARGS` in a workspace (with a stand-in daemon when `stand_in`)."""
    def run(tmp: Path) -> Loaded:
        with stand_in_daemon() if stand_in else _plain_workspace() as ws:
            return run_probe("cli", *args, cwd=tmp, env=_cli_env(ws))
    return run


def _cli_env(ws: Path) -> dict[str, str]:
    return {"NEODEV_WORKSPACE": str(ws), "NO_COLOR": "1"}


@contextlib.contextmanager
def _plain_workspace() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="nib-") as name:
        (Path(name) / "profiles").mkdir()
        yield Path(name)


def config(*args: str, stored: bool) -> Run:
    """`neodev config ARGS` on the fixture workspace, its answer stored by a first run or not."""
    def run(tmp: Path) -> Loaded:
        ws = tmp / "ws"
        shutil.copytree(WS, ws)
        argv = ["config", "-p", PROFILE, *args]
        if stored:
            subprocess.run([sys.executable, "-m", "neodev", *argv], cwd=ws,
                           env=probe_env(_cli_env(ws)), stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=60, check=True)
        return run_probe("cli", *argv, cwd=tmp, env=_cli_env(ws))
    return run


class _StandIn(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    workspace = ""

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/v1/status":
            units = [encode(UnitRecord(name="app", kind="process", state=UnitState.RUNNING))]
            body = {"protocol": 1, "instance": "standin", "seq": 1, "profile": "local",
                    "project": "budget", "workspace": self.workspace, "units": units,
                    "reaped_orphans": [], "clusters": {}, "telemetry": {}, "volumes": [],
                    "jobs": []}
        elif path == "/v1/logs":
            line = LogRecord(id=1, unit="app", ts=0.0, stream="stdout", line="hello")
            body = {"lines": [encode(line)], "last_id": 1, "more": False}
        else:
            self.send_error(404)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@contextlib.contextmanager
def stand_in_daemon() -> Iterator[Path]:
    """A workspace whose `.neodev/daemon.json` points at a stand-in API in this process."""
    with tempfile.TemporaryDirectory(prefix="nib-") as name:  # short: sockets max 107 bytes
        ws = Path(name)
        (ws / "profiles").mkdir()
        state = ws / ".neodev"
        state.mkdir(mode=0o700)
        sock = state / "daemon.sock"
        handler = type("Handler", (_StandIn,), {"workspace": str(ws)})
        server = _Server(str(sock), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        # announced as the daemon does: its lock held (by this process), then its status file
        paths = WorkspacePaths(ws)
        lock = DaemonLock(paths)
        assert lock.try_acquire()
        write_info(paths, DaemonInfo(pid=os.getpid(), create_time=0.0, socket=str(sock),
                                     profile="local", workspace=str(ws), started_at=0.0,
                                     version="0"))
        try:
            yield ws
        finally:
            lock.release()
            server.shutdown()
            server.server_close()


# -- the daemon --------------------------------------------------------------------------------

def daemon(containers: bool) -> Run:
    """The real daemon serving one process (and a container when `containers`)."""
    def run(_: Path) -> Loaded:
        with tempfile.TemporaryDirectory(prefix="ndi-") as name:  # short: sockets max 107 bytes
            paths = WorkspacePaths(Path(name))
            (paths.root / "profiles").mkdir()
            paths.ensure_state_dir()
            db = ContainerSpec(name="db", service="db", image="neodev-test/never-pulled:1")
            plan = plan_of(paths, containers={"db": db} if containers else {})
            return run_daemon(paths, plan, (lambda _: None) if containers else start_and_look)
    return run


def plan_of(paths: WorkspacePaths, containers: dict[str, ContainerSpec]) -> EnvironmentPlan:
    """One real process: an HTTP server on a free port, probed over HTTP, watched."""
    port = free_port()
    # start_period: on a loaded machine the server may take seconds to listen; failed probes
    # before then must not make it unhealthy (the wait below would end, failed).
    web = ProcessSpec(name="web", cwd=paths.root, port=port, stop_grace=2.0,
                      command=(sys.executable, "-m", "http.server", str(port), "--bind",
                               "127.0.0.1"),
                      readiness=Probe(kind="http", url=f"http://127.0.0.1:{port}/",
                                      interval=0.2, start_period=25),
                      watch=("*.txt",))
    return EnvironmentPlan(profile="local", project="importprobe", workspace=paths.root,
                           profile_file=paths.root / "profiles" / "local.toml",
                           network="importprobe_default", processes={"web": web},
                           containers=containers)


def run_daemon(paths: WorkspacePaths, plan: EnvironmentPlan,
               drive: Callable[[DaemonClient], None]) -> Loaded:
    """Serve `plan` in a probed daemon, `drive` it, shut it down; what it had imported."""
    out = paths.state_dir / "modules.json"
    # Its import-time report goes to the log, which the daemon appends to once it has a plan.
    with open(paths.daemon_log, "wb") as log:
        child = subprocess.Popen(
            probe_argv(out, "daemon", "--workspace", str(paths.root), "--plan-on-stdin"),
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log, cwd=paths.root,
            env=probe_env(), start_new_session=True)
    try:
        hand_over_plan(child, plan.model_dump_json())
        info = wait_for_daemon(paths, child, timeout=30)
        client = DaemonClient(Path(info.socket))
        drive(client)
        client.call(calls.shutdown())
        code = child.wait(timeout=60)
    finally:
        if child.poll() is None:  # the test failed half-way: end the daemon and its units
            stop_daemon(child)
    stderr = paths.daemon_log.read_text(errors="replace")
    assert code == 0, f"the daemon exited {code}:\n" + "\n".join(import_errors(stderr)[-30:])
    return Loaded.read(out, stderr)


def stop_daemon(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM first: the daemon then stops its units, which run in sessions of their own and
    would outlive a SIGKILL of its group; SIGKILL only if it does not end in time."""
    child.terminate()
    try:
        child.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=10)


def start_and_look(client: DaemonClient) -> None:
    """What a session does: start, wait until ready, status, logs, events, details."""
    assert client.call(calls.start()).started == ("web",)
    verdict = client.call(calls.wait(None, 30))
    assert verdict.ok, verdict
    assert client.call(calls.status()).units[0].state == "running"
    client.call(calls.logs(None, limit=10))
    assert list(client.stream(calls.events(follow=False)))
    assert client.call(calls.unit("web")).name == "web"


# -- the table ---------------------------------------------------------------------------------

START_PATH = {module: "" for module in ("neodev.process.runner", "neodev.process.watcher",
                                        "neodev.health.probes", "uvicorn", "starlette.routing")}
"""Modules of the daemon's start path: there, so the check saw it run."""

BUDGET: dict[str, Budget] = {
    "import neodev.entry": Budget(imports("neodev.entry"), CLI),
    "import neodev.cli": Budget(imports("neodev.cli"), CLI),
    "neodev --version": Budget(command("--version"), CLI),
    "neodev status": Budget(command("status", stand_in=True), CLI),
    "neodev status --json": Budget(command("status", "--json", stand_in=True), CLI),
    "neodev logs -n 10": Budget(command("logs", "-n", "10", stand_in=True), CLI),
    "neodev config, answered from the store": Budget(config(stored=True), ("pydantic", "yaml")),
    "neodev config --json, answered from the store": Budget(config("--json", stored=True),
                                                            ("pydantic", "yaml")),
    "a daemon running only processes": Budget(daemon(containers=False), DAEMON, START_PATH),
    "import neodev.testing.plugin": Budget(imports("neodev.testing.plugin"), PLUGIN),
    "import neodev.docker.create_args": Budget(imports("neodev.docker.create_args"), ("docker",)),
    "import every module outside neodev.tui": Budget(imports(*core_modules()), ("textual",)),
    # the controls: the check sees a real import, and names its chain
    "control: import neodev.config.model": Budget(
        imports("neodev.config.model"), required={"pydantic": "neodev.config.model <- <main>"}),
    "control: neodev config, nothing stored": Budget(config(stored=False),
                                                     required={"pydantic": "", "yaml": ""}),
    "control: a daemon with a container": Budget(daemon(containers=True),
                                                 required={"docker": "neodev.docker.runner"}),
}


@pytest.mark.parametrize("case", BUDGET)
def test_the_import_budget(case: str, tmp_path: Path) -> None:
    budget = BUDGET[case]
    found = budget.run(tmp_path)
    assert not found.failed, f"{case}: imports failed: {found.failed}"
    leaks = [f"{package} ({len(found.has(package))} modules) through {found.chain(package)}"
             for package in budget.forbidden if found.has(package)]
    assert not leaks, (f"{case} imported " + "; ".join(leaks)
                       + f": import it where it is needed (BUDGET in {Path(__file__).name})")
    for package, link in budget.required.items():
        assert found.has(package), f"{case} did not import {package}: the probe missed its path"
        assert link in found.chain(package), found.chain(package)


def test_the_stand_in_daemon_is_really_asked() -> None:
    """The status case runs its whole code path: the table names the stand-in's unit."""
    with stand_in_daemon() as ws:
        proc = subprocess.run([sys.executable, "-m", "neodev", "status"], cwd=ws,
                              env={**os.environ, "NEODEV_WORKSPACE": str(ws), "NO_COLOR": "1"},
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "project budget" in proc.stdout and "app" in proc.stdout


def test_discovery_finds_the_core_packages() -> None:
    modules = core_modules()
    for expected in ("neodev.errors", "neodev.paths", "neodev.config.model",
                     "neodev.engine.runner"):
        assert expected in modules
    assert not [m for m in modules if m.startswith("neodev.tui")]
