"""Attach mode in a checkout that is not its profile's first instance: the run uses this
instance's Postgres, never the one of the checkout holding the profile's name."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from neodev.config.loader import load_plan
from neodev.docker.create_args import CreateOptions, create_args
from neodev.docker.labels import container_name
from neodev.docker.project import container_published_port
from neodev.instances.registry import InstanceRecord, write_instance
from neodev.paths import WorkspacePaths
from tests.constants import PLUGIN_RUNS, REPO_ROOT, TEST_LABELS
from tests.plugin.conftest import run_inner, wait_healthy
from tests.plugin.test_plugin_attach import ATTACH_SUITE, DEV_PASSWORD

pytestmark = [pytest.mark.docker, pytest.mark.xdist_group(PLUGIN_RUNS)]


@pytest.fixture
def two_servers(engine: docker.DockerClient, tmp_path: Path, plugin_env: pytest.MonkeyPatch
                ) -> Iterator[tuple[str, str]]:
    """The profile's first instance's Postgres (named as the profile) and this checkout's
    (named as its instance), both running; yields their container ids (first, this one)."""
    project = f"ndatti{uuid.uuid4().hex[:8]}"
    workspace = tmp_path / "feature"
    (workspace / "profiles").mkdir(parents=True)
    (workspace / "profiles" / "devlike.toml").write_text(
        f'[project]\nname = "{project}"\n'
        f'compose = ["{REPO_ROOT / "compose" / "docker-compose.local.yml"}"]\n'
        'secrets = ["POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD"]\n')
    instance = f"{project}-feature"
    write_instance(WorkspacePaths(workspace), InstanceRecord(
        name=instance, workspace=os.path.realpath(workspace), profile="devlike",
        profile_project=project, profile_ports=False, port_block=20000))
    plugin_env.setenv("NEODEV_WORKSPACE", str(workspace))
    plugin_env.setenv("POSTGRES_PASSWORD", DEV_PASSWORD)
    plugin_env.setenv("GRAFANA_ADMIN_PASSWORD", "unused-here")
    spec = load_plan(workspace, "devlike").containers["postgres"]
    made = []
    try:
        for name in (project, instance):
            container = engine.containers.create(**create_args(
                spec, name, "bridge", "dev-hash", CreateOptions(
                    name=container_name(name, "postgres"), random_loopback_ports=True,
                    throwaway_volumes="tmpfs", labels=TEST_LABELS)))
            made.append(container)
            container.start()
        for container in made:
            wait_healthy(container)
        yield made[0].id, made[1].id
    finally:
        for container in made:
            container.remove(force=True, v=True)


def test_attach_uses_this_instance_s_postgres(
        pytester: pytest.Pytester, two_servers: tuple[str, str], engine: docker.DockerClient
        ) -> None:
    first, mine = two_servers
    inner = run_inner(pytester, ATTACH_SUITE, "--neodev-attach", "--neodev-profile", "devlike")
    inner.result.assert_outcomes(passed=2)
    rows = inner.records("attach.jsonl")
    assert rows[0]["container"] == mine != first
    assert {r["port"] for r in rows} == {container_published_port(engine.containers.get(mine),
                                                                  5432)}
