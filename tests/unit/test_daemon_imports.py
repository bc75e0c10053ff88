"""The daemon's memory budget, guarded by counting modules: what a process-only daemon imports.

An idle daemon must stay under 50 MiB RSS with the demo's three processes
(benchmarks/daemon_idle.py), and most of what it paid was importing packages a process-only
environment never uses: the docker SDK (docker, requests), FastAPI, yaml, httpx's command-line
client (rich; blocked in neodev/daemon/__init__.py). This runs the real daemon
(`neodev.daemon.server.main`, the plan handed over as JSON on stdin, as `neodev start` does) in
a fresh interpreter under `-X importtime`, drives it through its API over the Unix socket —
start a real process with a port, an HTTP readiness probe and a watcher, wait until it is
ready, read status, logs, events and details, shut down — and checks the `sys.modules` it
dumped at exit. A leak names the chain of imports that brought it in.

The control that the test can fail: the same daemon with a container in its plan must show
the docker SDK, imported by the container driver.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from neodev.client import DaemonClient, calls
from neodev.client.spawn import hand_over_plan, wait_for_daemon
from neodev.config.model import ContainerSpec, EnvironmentPlan, Probe, ProcessSpec
from neodev.paths import WorkspacePaths
from tests.constants import REPO_ROOT
from tests.importchain import Loaded, import_errors
from tests.ports import free_port

FORBIDDEN = ("docker", "requests", "fastapi", "yaml", "rich")
"""Packages a daemon without containers must not import: the one list this test checks."""

PROBE = """\
import atexit, json, sys
out, args = sys.argv[1], sys.argv[2:]
def dump():  # loaded modules only: a None entry blocks an import (neodev/daemon/__init__.py)
    with open(out, "w") as f:
        json.dump(sorted(n for n, m in sys.modules.items() if m is not None), f)
atexit.register(dump)
from neodev.daemon.server import main
sys.exit(main(args))
"""


@contextlib.contextmanager
def workspace() -> Iterator[WorkspacePaths]:
    with tempfile.TemporaryDirectory(prefix="ndi-") as name:  # short: sockets max 107 bytes
        paths = WorkspacePaths(Path(name))
        (paths.root / "profiles").mkdir()
        paths.ensure_state_dir()
        yield paths


def plan_of(paths: WorkspacePaths, *, containers: dict[str, ContainerSpec] | None = None
            ) -> EnvironmentPlan:
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
                           containers=containers or {})


def run_daemon(paths: WorkspacePaths, plan: EnvironmentPlan,
               drive: Callable[[DaemonClient], None]) -> Loaded:
    """Serve `plan` in a probed daemon, `drive` it, shut it down; what it had imported."""
    out = paths.state_dir / "modules.json"
    # Its import-time report goes to the log, which the daemon appends to once it has a plan.
    with open(paths.daemon_log, "wb") as log:
        child = subprocess.Popen(
            [sys.executable, "-X", "importtime", "-c", PROBE, str(out), "--workspace",
             str(paths.root), "--plan-on-stdin"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log, cwd=paths.root,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, start_new_session=True)
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
    return Loaded.read(json.loads(out.read_text()), stderr)


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


@pytest.fixture(scope="module")
def process_only() -> Loaded:
    with workspace() as paths:
        return run_daemon(paths, plan_of(paths), start_and_look)


@pytest.mark.parametrize("package", FORBIDDEN)
def test_a_process_only_daemon_does_not_import(process_only: Loaded, package: str) -> None:
    leaked = process_only.has(package)
    assert not leaked, (f"a daemon running only processes imported {package} "
                        f"({len(leaked)} modules) through {process_only.chain(package)}; "
                        f"import it where it is needed (FORBIDDEN in {Path(__file__).name})")


def test_the_probe_ran_the_start_path(process_only: Loaded) -> None:
    """The modules of the start path are there, so the check above saw it run."""
    for module in ("neodev.process.runner", "neodev.process.watcher", "neodev.health.probes",
                   "uvicorn", "starlette.routing"):
        assert process_only.has(module), module


def test_the_check_sees_the_container_driver_import_docker() -> None:
    """The control: a container in the plan brings the docker SDK, and the chain says who."""
    with workspace() as paths:
        db = ContainerSpec(name="db", service="db", image="neodev-test/never-pulled:1")
        found = run_daemon(paths, plan_of(paths, containers={"db": db}),
                           lambda client: None)
    assert found.has("docker")
    assert "neodev.docker.runner" in found.chain("docker")
