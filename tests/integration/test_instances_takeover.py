"""Never take over another workspace's resources (issue 21), against the real engine.

Each test is one or two scratch workspaces (`stack_workspace`) run by the real CLI; only the
Postgres unit (`db`) is started, to keep them short.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from docker.errors import NotFound

from tests.constants import TEST_LABELS
from tests.integration.stack_workspace import NeodevCLI, StackWorkspace, new_workspace
from tests.ports import free_ports

pytestmark = pytest.mark.docker


@pytest.fixture
def cleanup() -> Iterator[list[NeodevCLI]]:
    started: list[NeodevCLI] = []
    yield started
    for cli in reversed(started):
        cli.cleanup()


def _workspace(root: Path, project: str | None = None) -> StackWorkspace:
    db, metrics = free_ports(2)
    ws = new_workspace(root, {"db": db, "metrics": metrics})
    if project is not None:
        ws.project = project
        ws.write()
    return ws


def test_a_workspace_that_does_not_know_another_never_takes_over_its_containers(
        tmp_path: Path, docker_client: docker.DockerClient, cleanup: list[NeodevCLI]) -> None:
    a = _workspace(tmp_path / "a")
    cli_a = NeodevCLI(a)
    cleanup.append(cli_a)
    assert cli_a("start", "--wait", "db").code == 0
    container = docker_client.containers.get(f"{a.project}-db-1")
    assert container.labels["dev.neodev.instance"] == a.project
    assert container.labels["dev.neodev.workspace"] == str(a.root.resolve())
    volume = docker_client.volumes.get(f"{a.project}_pgdata")
    assert volume.attrs["Labels"]["dev.neodev.workspace"] == str(a.root.resolve())
    assert volume.attrs["Labels"]["dev.neodev.postgres-credentials"].startswith("pbkdf2-")

    # B: another checkout with the same project name whose registry does not know A (another
    # user's state, a registry lost): it gets the same name, and must still not take over.
    b = StackWorkspace(root=tmp_path / "b", project=a.project, ports=a.ports)
    b.write()
    cli_b = NeodevCLI(b)
    cli_b.env["NEODEV_STATE_HOME"] = str(tmp_path / "other-state")
    refused = cli_b("start", "--wait", "db")
    assert refused.code == 3, refused.err + refused.out
    assert "Belongs to another workspace" in refused.err
    assert f"of the workspace {a.root.resolve()}" in refused.err
    assert "--instance NAME" in refused.err
    container.reload()
    assert container.status == "running" and container.id == docker_client.containers.get(
        f"{a.project}-db-1").id

    # B's down --volumes removes nothing of A's, and says so
    down = cli_b("down", "--volumes")
    assert down.code == 0, down.err
    assert "left alone: container" in down.out and "left alone: volume" in down.out
    docker_client.volumes.get(f"{a.project}_pgdata")
    assert docker_client.containers.get(f"{a.project}-db-1").status == "running"


def test_an_unlabelled_volume_is_refused_and_named_by_down_not_deleted(
        tmp_path: Path, docker_client: docker.DockerClient, cleanup: list[NeodevCLI]) -> None:
    ws = _workspace(tmp_path / "ws")
    name = f"{ws.project}_pgdata"
    # what plain `docker compose` (or two starts racing, before neodev created volumes itself)
    # leaves: a volume with the instance's name and no neodev label
    docker_client.volumes.create(name, labels=dict(TEST_LABELS))
    cli = NeodevCLI(ws)
    cleanup.append(cli)
    try:
        refused = cli("start", "--wait", "db")
        assert refused.code == 3, refused.err + refused.out
        assert f"volume {name} exists without neodev's labels" in refused.err
        assert f"docker volume rm {name}" in refused.err
        down = cli("down", "--volumes")
        assert down.code == 0, down.err
        assert f"left alone: volume {name} exists without neodev's labels" in down.out
        docker_client.volumes.get(name)  # named, not deleted
    finally:
        docker_client.volumes.get(name).remove(force=True)


def test_the_workspace_that_ran_the_project_before_instances_keeps_its_data(
        tmp_path: Path, docker_client: docker.DockerClient, cleanup: list[NeodevCLI]) -> None:
    ws = _workspace(tmp_path / "ws")
    name = f"{ws.project}_pgdata"
    docker_client.volumes.create(name, labels=dict(TEST_LABELS))  # made by an older neodev
    (ws.root / ".neodev").mkdir()
    (ws.root / ".neodev" / "project").write_text(ws.project)  # ... that ran here
    cli = NeodevCLI(ws)
    cleanup.append(cli)
    started = cli("start", "--wait", "db")
    assert started.code == 0, started.err + started.out
    assert docker_client.containers.get(f"{ws.project}-db-1").attrs["Mounts"][0]["Name"] == name
    down = cli("down", "--volumes")
    assert name in down.out and "left alone" not in down.out
    with pytest.raises(NotFound):
        docker_client.volumes.get(name)


def test_a_volume_initialised_with_other_credentials_is_said_so_before_the_start(
        tmp_path: Path, cleanup: list[NeodevCLI]) -> None:
    ws = _workspace(tmp_path / "ws")
    cli = NeodevCLI(ws)
    cleanup.append(cli)
    assert cli("start", "--wait", "db").code == 0
    assert cli("stop").code == 0
    (ws.root / ".env").write_text("POSTGRES_PASSWORD=another-password\n")
    refused = cli("start", "--wait", "db")
    assert refused.code == 3, refused.err + refused.out
    assert "Data volume initialised with other credentials" in refused.err
    assert f"volume {ws.project}_pgdata was initialised with other credentials" in refused.err
    assert "another-password" not in refused.err + refused.out
    assert "neodev down --volumes" in refused.err
