"""`neodev start/status/logs/restart/stop/down` against a real Docker engine.

Every test runs the real CLI (a subprocess), which spawns the real daemon, which runs real
containers from the locally built test images. Each test has its own compose project and
free host ports, and removes everything (volumes included) at the end.
"""

from __future__ import annotations

import os
import signal
import socket
import textwrap
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.integration.stack_workspace import (
    BROKEN_SERVICE,
    FLAKY_SERVICE,
    NeodevCLI,
    StackWorkspace,
    docker_time,
    new_workspace,
    ready_at,
)
from tests.ports import free_ports
from tests.waiting import until

pytestmark = pytest.mark.docker


@pytest.fixture
def stack(tmp_path: Path, docker_client: docker.DockerClient) -> Iterator[tuple[StackWorkspace,
                                                                               NeodevCLI]]:
    db, metrics = free_ports(2)
    ws = new_workspace(tmp_path, {"db": db, "metrics": metrics})
    cli = NeodevCLI(ws)
    yield ws, cli
    cli.cleanup()


def psql(client: docker.DockerClient, project: str, sql: str) -> str:
    container = client.containers.get(f"{project}-db-1")
    code, out = container.exec_run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d",
                                    "neotool_dev", "-tAc", sql],
                                   environment={"PGPASSWORD": "test-secret-pw"})
    assert code == 0, out.decode()
    return out.decode().strip()


def test_start_wait_brings_the_stack_up_healthy_in_dependency_order(
        stack: tuple[StackWorkspace, NeodevCLI], docker_client: docker.DockerClient) -> None:
    ws, cli = stack
    result = cli("start", "--wait", "--timeout", "180")
    assert result.code == 0, result.err + result.out
    assert "ok   db: running, healthy" in result.out
    assert "ok   metrics: running, healthy" in result.out

    status = cli("status", "--json").json()
    units = {u["name"]: u for u in status["units"]}
    assert units["db"]["state"] == "running" and units["db"]["health"] == "healthy"
    assert units["db"]["endpoints"] == [f"127.0.0.1:{ws.ports['db']}->5432"]
    # metrics waited for db to be healthy: it started after neodev saw db ready (neodev runs
    # the healthcheck itself before Docker's first check, so Docker's record may come later)
    db = docker_client.containers.get(f"{ws.project}-db-1")
    metrics = docker_client.containers.get(f"{ws.project}-metrics-1")
    assert docker_time(metrics.attrs["State"]["StartedAt"]) > ready_at(ws, "db")

    # compose-style names and labels, so `docker compose -p <project> ps` lists them
    assert db.labels["com.docker.compose.project"] == ws.project
    assert db.labels["com.docker.compose.service"] == "db"
    assert db.labels["com.docker.compose.container-number"] == "1"
    assert f"{ws.project}_default" in db.attrs["NetworkSettings"]["Networks"]

    text = cli("status").out
    assert "db" in text and "healthy" in text and f"127.0.0.1:{ws.ports['db']}->5432" in text

    logs = cli("logs", "-n", "5", "db")
    assert logs.code == 0
    lines = logs.out.splitlines()
    assert 0 < len(lines) <= 5 and all(line.startswith("db | ") for line in lines)

    warm = cli("start", "--wait", "--timeout", "60")
    assert warm.code == 0
    assert docker_client.containers.get(db.id).attrs["State"]["StartedAt"] == \
        db.attrs["State"]["StartedAt"]


def test_broken_healthcheck_fails_the_wait_while_independent_units_stay_up(
        tmp_path: Path, docker_client: docker.DockerClient) -> None:
    db, metrics = free_ports(2)
    ws = new_workspace(tmp_path, {"db": db, "metrics": metrics}, extra=BROKEN_SERVICE)
    cli = NeodevCLI(ws)
    try:
        result = cli("start", "--wait", "--timeout", "120")
        assert result.code == 12, result.err + result.out  # unhealthy (WAIT_EXIT_CODES)
        assert "FAIL broken: running, unhealthy — unhealthy" in result.out
        assert "ok   db: running, healthy" in result.out
        assert "not healthy: broken" in result.err
        units = {u["name"]: u for u in cli("status", "--json").json()["units"]}
        assert units["db"]["ready"] and units["metrics"]["ready"]
        assert units["broken"]["health"] == "unhealthy"
    finally:
        cli.cleanup()


def test_restart_policy_backs_off_a_container_that_exits(
        tmp_path: Path, docker_client: docker.DockerClient) -> None:
    db, metrics = free_ports(2)
    ws = new_workspace(tmp_path, {"db": db, "metrics": metrics}, extra=FLAKY_SERVICE)
    cli = NeodevCLI(ws)
    try:
        assert cli("start", "flaky").code == 0
        until(lambda: {u["name"]: u for u in cli("status", "--json").json()["units"]}["flaky"],
              "flaky restarted twice", 60, ok=lambda flaky: flaky["restarts"] >= 2,
              interval=0.5)
        units = {u["name"]: u for u in cli("status", "--json").json()["units"]}
        flaky = units["flaky"]
        assert flaky["state"] in ("backoff", "starting", "running", "crashed")
        assert flaky["exit_code"] in (3, None)
        assert units["db"]["state"] == "pending"  # not requested, not started
        logs = cli("logs", "flaky").out
        assert "flaky starting" in logs
    finally:
        cli.cleanup()


def test_volume_data_survives_stop_start_and_down_but_not_down_volumes(
        stack: tuple[StackWorkspace, NeodevCLI], docker_client: docker.DockerClient) -> None:
    ws, cli = stack
    assert cli("start", "--wait", "db").code == 0
    psql(docker_client, ws.project, "CREATE TABLE notes(t text); INSERT INTO notes VALUES ('kept')")

    assert cli("stop").code == 0
    assert cli("status", "--json").json()["running"] is False
    assert cli("start", "--wait", "db").code == 0
    assert psql(docker_client, ws.project, "SELECT t FROM notes") == "kept"

    down = cli("down")
    assert down.code == 0, down.err
    assert f"removed container {ws.project}-db-1" in down.out
    assert "volumes kept" in down.out
    assert not docker_client.containers.list(all=True, filters={
        "label": f"com.docker.compose.project={ws.project}"})
    assert cli("start", "--wait", "db").code == 0
    assert psql(docker_client, ws.project, "SELECT t FROM notes") == "kept"

    gone = cli("down", "--volumes")
    assert gone.code == 0
    assert f"deleted volume {ws.project}_pgdata" in gone.out
    assert not docker_client.volumes.list(filters={
        "label": f"com.docker.compose.project={ws.project}"})
    assert cli("start", "--wait", "db").code == 0
    assert "notes" not in psql(docker_client, ws.project, "SELECT tablename FROM pg_tables")


def test_killed_daemon_is_replaced_and_adopts_running_containers(
        stack: tuple[StackWorkspace, NeodevCLI], docker_client: docker.DockerClient) -> None:
    ws, cli = stack
    assert cli("start", "--wait", "db").code == 0
    before = docker_client.containers.get(f"{ws.project}-db-1")
    cli.kill_daemon()
    assert (ws.root / ".neodev" / "daemon.sock").exists()  # stale leftovers of the dead daemon
    assert cli("status", "--json").json()["running"] is False

    again = cli("start", "--wait", "db")
    assert again.code == 0, again.err
    after = docker_client.containers.get(f"{ws.project}-db-1")
    assert after.id == before.id
    assert after.attrs["State"]["StartedAt"] == before.attrs["State"]["StartedAt"]
    status = cli("status", "--json").json()
    db = next(u for u in status["units"] if u["name"] == "db")
    assert db["adopted"] is True


def test_start_right_after_a_daemon_sigkill_recovers_every_time(
        stack: tuple[StackWorkspace, NeodevCLI], docker_client: docker.DockerClient) -> None:
    # The dead daemon may still be a zombie (same pid and create time) for a moment: liveness
    # is decided by its lock, so the next start never meets "connection refused".
    ws, cli = stack
    assert cli("start", "--wait", "db").code == 0
    first = docker_client.containers.get(f"{ws.project}-db-1").id
    for _ in range(3):
        info = cli.daemon_info()
        assert info is not None
        os.kill(info["pid"], signal.SIGKILL)  # and no waiting for it to be gone
        again = cli("start", "--wait", "db")
        assert again.code == 0, again.err + again.out
        assert docker_client.containers.get(f"{ws.project}-db-1").id == first  # adopted
    down = cli("down")
    assert down.code == 0, down.err
    assert f"removed container {ws.project}-db-1" in down.out


def test_taken_host_port_is_a_clear_error_before_anything_starts(
        stack: tuple[StackWorkspace, NeodevCLI], docker_client: docker.DockerClient) -> None:
    ws, cli = stack
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", ws.ports["metrics"]))
        holder.listen()
        plain = cli("start")  # a DockerError: exit 3, nothing started
        result = cli("start", "--wait", "--timeout", "60")  # the wait's own verdict kind
    assert plain.code == 3, plain.err + plain.out
    assert f"127.0.0.1:{ws.ports['metrics']}" in plain.err
    assert "already in use" in plain.err and "nothing was started" in plain.err
    assert result.code == 14, result.err + result.out  # port_taken (README, exit codes)
    assert f"127.0.0.1:{ws.ports['metrics']}" in result.out
    assert "already in use" in result.out and "port_taken" in result.err
    assert not docker_client.containers.list(all=True, filters={
        "label": f"com.docker.compose.project={ws.project}"})
    assert cli.daemon_info() is None or cli("status", "--json").json()["running"] is False


def test_restart_and_stop_single_services(
        stack: tuple[StackWorkspace, NeodevCLI], docker_client: docker.DockerClient) -> None:
    ws, cli = stack
    assert cli("start", "--wait").code == 0
    metrics = docker_client.containers.get(f"{ws.project}-metrics-1")
    started = metrics.attrs["State"]["StartedAt"]
    assert cli("restart", "metrics").code == 0
    assert cli("start", "--wait", "metrics", "--timeout", "60").code == 0
    metrics.reload()
    assert metrics.attrs["State"]["StartedAt"] != started

    assert cli("stop", "metrics").code == 0
    units = {u["name"]: u for u in cli("status", "--json").json()["units"]}
    assert units["metrics"]["state"] == "stopped"
    assert units["db"]["state"] == "running"
    assert cli("restart", "nope").code == 2

    # the Prometheus image declares VOLUME /prometheus, which this stack does not name: Docker
    # made an anonymous volume; `down --volumes` removes it too (as `compose down -v` does)
    anonymous = [m["Name"] for m in metrics.attrs["Mounts"] if m["Destination"] == "/prometheus"]
    assert len(anonymous) == 1
    gone = cli("down", "--volumes")
    assert f"deleted volume {anonymous[0]} (anonymous)" in gone.out
    assert not docker_client.volumes.list(filters={"name": anonymous[0]})


def test_config_error_exits_2_and_starts_nothing(tmp_path: Path) -> None:
    ws = new_workspace(tmp_path, {"db": 1, "metrics": 2})
    (ws.root / "profiles" / "local.toml").write_text(textwrap.dedent("""\
        [project]
        name = "x"
        compose = ["../compose/stack.yml"]
        [processes.api]
        comand = "python3 -m http.server"
        """))
    cli = NeodevCLI(ws)
    result = cli("start")
    assert result.code == 2
    assert "comand" in result.err
    assert cli.daemon_info() is None


def test_down_needs_no_valid_configuration(tmp_path: Path, docker_client) -> None:
    db, metrics = free_ports(2)
    ws = new_workspace(tmp_path, {"db": db, "metrics": metrics})
    cli = NeodevCLI(ws)
    try:
        assert cli("start", "--wait", "--timeout", "120", "db").code == 0
        (ws.root / ".env").write_text("# the password is gone\n")
        assert cli("config").code == 2  # the profile does not resolve any more
        # a running daemon tears down what runs, whatever the profile says now
        assert cli("stop").code == 0
        assert cli("start", "--wait", "db").code == 2
        (ws.root / ".env").write_text("POSTGRES_PASSWORD=test-secret-pw\n")
        assert cli("start", "--wait", "--timeout", "120", "db").code == 0
        cli.kill_daemon()  # containers keep running, no daemon, and the config breaks again
        (ws.root / ".env").write_text("# the password is gone\n")
        down = cli("down", "--volumes")
        assert down.code == 0, down.err + down.out
        assert "the profile does not load" in down.err
        assert f"com.docker.compose.project={ws.project}" in down.err
        assert f"removed container {ws.project}-db-1" in down.out
        assert f"deleted volume {ws.project}_pgdata" in down.out
        assert docker_client.containers.list(
            all=True, filters={"label": f"com.docker.compose.project={ws.project}"}) == []
    finally:
        (ws.root / ".env").write_text("POSTGRES_PASSWORD=test-secret-pw\n")
        cli.cleanup()
