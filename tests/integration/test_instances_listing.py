"""`neodev instances` and `neodev instances prune`, and a daemon whose workspace was deleted
under it, against the real engine and real daemons (issue 21)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import psutil
import pytest
from docker.errors import NotFound

from neodev.ports import can_bind
from tests.integration.instance_workspace import Checkout, checkout, host_port, instance_of
from tests.integration.stack_workspace import NeodevCLI
from tests.ports import free_ports
from tests.waiting import until

# `instances` lists the whole machine: other workers' tests run instances meanwhile, so each
# test looks only at the rows of its own workspaces. Only these tests leave orphaned instances
# and prune them: one worker runs them one after the other, so one never prunes the other's.
pytestmark = [pytest.mark.docker, pytest.mark.xdist_group("machine-instances")]


@pytest.fixture
def pair(tmp_path: Path, docker_client: docker.DockerClient
         ) -> Iterator[list[tuple[Checkout, NeodevCLI]]]:
    project = f"ndl{uuid.uuid4().hex[:8]}"
    ports = dict(zip(("db", "app"), free_ports(2), strict=True))
    made = [checkout(tmp_path / name, project, ports) for name in ("a", "b")]
    yield made
    for ws, cli in reversed(made):
        if ws.root.exists():
            cli.cleanup()
        _remove_labelled(docker_client, str(ws.root.resolve()))


def _remove_labelled(client: docker.DockerClient, workspace: str) -> None:
    label = f"dev.neodev.workspace={workspace}"
    for c in client.containers.list(all=True, filters={"label": label}):
        c.remove(force=True, v=True)
    for v in client.volumes.list(filters={"label": label}):
        with contextlib.suppress(NotFound):
            v.remove(force=True)
    for n in client.networks.list(filters={"label": label}):
        with contextlib.suppress(NotFound):
            n.remove()


def _listed(cli: NeodevCLI) -> dict[str, dict]:
    """The instances of this test's workspaces (the checkouts' parent directory), by name."""
    result = cli("instances", "--json")
    assert result.code == 0, result.err
    ours = str(cli.ws.root.resolve().parent)
    return {i["name"]: i for i in result.json()["instances"]
            if i["workspace"].startswith(ours + "/")}


def test_instances_lists_every_checkout_and_prune_removes_a_deleted_one_with_its_daemon(
        pair: list[tuple[Checkout, NeodevCLI]], docker_client: docker.DockerClient) -> None:
    (a_ws, a), (b_ws, b) = pair
    b.env["NEODEV_WORKSPACE_CHECK_SECONDS"] = "3600"  # B's daemon must outlive its workspace
    for cli in (a, b):
        result = cli("start", "--wait")
        assert result.code == 0, result.err + result.out
    a_name = instance_of(a_ws.status(a))["name"]
    b_status = b_ws.status(b)
    b_name, b_app = instance_of(b_status)["name"], host_port(b_status, "app")

    listed = _listed(a)
    assert set(listed) == {a_name, b_name}
    for name, ws in ((a_name, a_ws), (b_name, b_ws)):
        row = listed[name]
        assert row["state"] == "running" and row["workspace"] == str(ws.root.resolve())
        assert row["database_bytes"] > 1_000_000 and row["memory_bytes"] > 10_000_000
        assert row["containers"] == [f"{name}-db-1"] and row["volumes"] == [f"{name}_pgdata"]
        app = next(p["host"] for p in row["ports"] if p["unit"] == "app")
        assert row["urls"]["app"] == f"http://127.0.0.1:{app}"
    text = a("instances").out
    assert "NAME" in text and a_name in text and "running" in text and "profile's" in text

    # B's checkout is deleted while its environment runs (`git worktree remove --force`)
    b_daemon = b.daemon_info()
    assert b_daemon is not None
    shutil.rmtree(b_ws.root)
    listed = _listed(a)
    assert listed[b_name]["state"] == "orphaned"
    assert listed[b_name]["daemon_pid"] == b_daemon["pid"]
    assert "workspace deleted; its daemon" in a("instances").out

    asked = subprocess.run([sys.executable, "-m", "neodev", "instances", "prune"],
                           cwd=a_ws.root, env=a.env, input="n\n", capture_output=True,
                           text=True, timeout=60, check=False)
    assert "remove them (their data too)?" in asked.stdout and "nothing removed" in asked.stdout
    assert _listed(a)[b_name]["state"] == "orphaned"
    pruned = a("instances", "prune", "--yes")
    assert pruned.code == 0, pruned.err
    assert f"{b_name} ({b_ws.root.resolve()})" in pruned.out
    assert f"removed daemon pid {b_daemon['pid']}" in pruned.out
    assert f"removed container {b_name}-db-1" in pruned.out
    assert f"removed volume {b_name}_pgdata" in pruned.out
    assert not psutil.pid_exists(b_daemon["pid"]) or psutil.Process(
        b_daemon["pid"]).status() == psutil.STATUS_ZOMBIE
    until(lambda: can_bind("127.0.0.1", b_app), "B's app port free (its process gone too)", 10)
    with pytest.raises(NotFound):
        docker_client.volumes.get(f"{b_name}_pgdata")
    assert set(_listed(a)) == {a_name}
    assert docker_client.containers.get(f"{a_name}-db-1").status == "running"
    assert "nothing to prune" in a("instances", "prune").out


def test_a_daemon_whose_state_directory_is_deleted_stops_its_units_and_exits(
        pair: list[tuple[Checkout, NeodevCLI]], docker_client: docker.DockerClient) -> None:
    (ws, cli), _ = pair
    assert cli("start", "--wait").code == 0
    status = ws.status(cli)
    name, app = instance_of(status)["name"], host_port(status, "app")
    daemon = cli.daemon_info()
    assert daemon is not None
    shutil.rmtree(ws.root / ".neodev")  # `git clean -fdx`
    until(lambda: not psutil.pid_exists(daemon["pid"]), "the orphaned daemon to end", 30)
    until(lambda: can_bind("127.0.0.1", app), "its process to stop listening", 10)
    assert docker_client.containers.get(f"{name}-db-1").status == "exited"
    listed = _listed(cli)
    assert listed[name]["state"] == "orphaned" and listed[name]["daemon_pid"] is None
    assert cli("instances", "prune", "--yes").code == 0
    with pytest.raises(NotFound):
        docker_client.containers.get(f"{name}-db-1")
