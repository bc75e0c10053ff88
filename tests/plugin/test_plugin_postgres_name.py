"""The Postgres fixtures find the profile's Postgres by its settings, as `neodev db` does:
a profile whose Postgres service is called `db` works in every mode (own container, attach).

The workspace's compose file is the repository's Postgres service verbatim, under another name.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import docker
import psycopg
import pytest
import yaml

from neodev.config.loader import load_plan
from neodev.docker.create_args import CreateOptions, create_args
from neodev.docker.labels import container_name
from neodev.docker.project import container_published_port
from tests.constants import PLUGIN_RUNS, REPO_ROOT, TEST_LABELS
from tests.plugin.conftest import RECORD, leftovers, run_inner, wait_healthy

pytestmark = [pytest.mark.docker, pytest.mark.xdist_group(PLUGIN_RUNS)]

DEV_PASSWORD = "dev-only-pw-9012"

SUITE = RECORD + '''
import docker
import psycopg


def test_the_postgres_fixtures_use_the_service_called_db(neodev_postgres, neodev_db):
    container = docker.from_env().containers.get(neodev_postgres.container_id)
    record("db.jsonl", name=neodev_postgres.name, container=container.id,
           container_name=container.name, session_db=neodev_postgres.dbname,
           db=neodev_db.dbname)
    with psycopg.connect(neodev_db.dsn, connect_timeout=10) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("neotool",)
'''


def _workspace(root: Path, project: str) -> Path:
    """A workspace whose profile `renamed` has one service, the Postgres, called `db`."""
    compose = yaml.safe_load((REPO_ROOT / "compose/docker-compose.local.yml").read_text())
    (root / "profiles").mkdir(parents=True)
    (root / "compose").mkdir()
    (root / "compose" / "stack.yml").write_text(yaml.safe_dump(
        {"name": project, "services": {"db": compose["services"]["postgres"]},
         "volumes": {"postgres-data": None}}))
    (root / "profiles" / "renamed.toml").write_text(
        '[project]\ncompose = ["../compose/stack.yml"]\nsecrets = ["POSTGRES_PASSWORD"]\n')
    return root


def test_a_postgres_called_db_gets_its_fixtures(
        pytester: pytest.Pytester, plugin_env: pytest.MonkeyPatch, tmp_path: Path,
        engine: docker.DockerClient) -> None:
    plugin_env.setenv("NEODEV_WORKSPACE", str(_workspace(tmp_path / "ws", "ndrenamed")))
    inner = run_inner(pytester, SUITE, "--neodev-profile", "renamed")
    inner.result.assert_outcomes(passed=1)
    [row] = inner.records("db.jsonl")
    assert (row["name"], row["session_db"]) == ("db", "neotool_dev")
    assert row["db"].startswith(f"neodev_t_{inner.session}")
    assert row["container_name"] == f"ndrenamed-pytest-{inner.session}-db-1"
    assert leftovers(engine, inner.session) == []


def test_attach_mode_finds_a_dev_postgres_called_db(
        pytester: pytest.Pytester, plugin_env: pytest.MonkeyPatch, tmp_path: Path,
        engine: docker.DockerClient) -> None:
    project = f"ndattachdb{uuid.uuid4().hex[:8]}"
    workspace = _workspace(tmp_path / "ws", project)
    plugin_env.setenv("NEODEV_WORKSPACE", str(workspace))
    plugin_env.setenv("POSTGRES_PASSWORD", DEV_PASSWORD)
    spec = load_plan(workspace, "renamed").containers["db"]
    container = engine.containers.create(**create_args(
        spec, project, "bridge", "dev-hash", CreateOptions(
            name=container_name(project, "db"), random_loopback_ports=True,
            throwaway_volumes="tmpfs", labels=TEST_LABELS)))
    try:
        container.start()
        wait_healthy(container)
        port = container_published_port(container, 5432)
        dev_dsn = f"postgresql://neotool:{DEV_PASSWORD}@127.0.0.1:{port}/neotool_dev"

        inner = run_inner(pytester, SUITE, "--neodev-attach", "--neodev-profile", "renamed")
        inner.result.assert_outcomes(passed=1)
        [row] = inner.records("db.jsonl")
        assert (row["name"], row["container"]) == ("db", container.id)
        assert row["session_db"] == f"neotool_dev_pytest_{inner.session}"
        with psycopg.connect(dev_dsn, connect_timeout=10) as conn:
            names = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
        assert not [n for n in names if inner.session in n], names  # the run's dropped
        assert leftovers(engine, inner.session) == []
    finally:
        container.remove(force=True, v=True)
