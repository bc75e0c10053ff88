"""Attach mode: the running dev Postgres, in a session database of the run's own.

The "dev environment" is a container made exactly as `neodev start` makes it (create_args from
the profile's own spec, the compose labels of a project unique to this test), holding a row
the suite must never touch.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import psycopg
import pytest

from neodev.config.loader import load_plan
from neodev.docker.create_args import CreateOptions, create_args
from neodev.docker.labels import container_name, pytest_labels
from neodev.docker.project import container_published_port
from tests.constants import PLUGIN_RUNS, REPO_ROOT, TEST_LABELS, TEST_POSTGRES_IMAGE
from tests.plugin.conftest import RECORD, leftovers, run_inner, wait_healthy

pytestmark = [pytest.mark.docker, pytest.mark.xdist_group(PLUGIN_RUNS)]

DEV_PASSWORD = "dev-only-pw-5678"


@dataclass
class DevPostgres:
    project: str
    workspace: Path
    container: str
    dsn: str


@pytest.fixture
def dev_postgres(engine: docker.DockerClient, tmp_path: Path,
                 plugin_env: pytest.MonkeyPatch) -> Iterator[DevPostgres]:
    """A dev environment's Postgres (own project name, the repository's compose file)."""
    project = f"ndattach{uuid.uuid4().hex[:8]}"
    workspace = tmp_path / "ws"
    (workspace / "profiles").mkdir(parents=True)
    (workspace / "profiles" / "devlike.toml").write_text(
        f'[project]\nname = "{project}"\n'
        f'compose = ["{REPO_ROOT / "compose" / "docker-compose.local.yml"}"]\n'
        'secrets = ["POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD"]\n')
    plugin_env.setenv("NEODEV_WORKSPACE", str(workspace))
    plugin_env.setenv("POSTGRES_PASSWORD", DEV_PASSWORD)
    plugin_env.setenv("GRAFANA_ADMIN_PASSWORD", "unused-here")
    plan = load_plan(workspace, "devlike")
    args = create_args(plan.containers["postgres"], project, "bridge", "dev-hash", CreateOptions(
        name=container_name(project, "postgres"), random_loopback_ports=True,
        throwaway_volumes="tmpfs", labels=TEST_LABELS))
    assert args["image"] == TEST_POSTGRES_IMAGE
    container = engine.containers.create(**args)
    try:
        container.start()
        wait_healthy(container)
        port = container_published_port(container, 5432)
        assert port is not None
        dsn = f"postgresql://neotool:{DEV_PASSWORD}@127.0.0.1:{port}/neotool_dev"
        yield DevPostgres(project, workspace, container.id, dsn)
    finally:
        container.remove(force=True, v=True)


ATTACH_SUITE = RECORD + '''
import psycopg


def test_session_database_is_fresh_and_not_the_dev_one(neodev_postgres):
    record("attach.jsonl", db=neodev_postgres.dbname, port=neodev_postgres.port,
           container=neodev_postgres.container_id)
    assert neodev_postgres.dbname != "neotool_dev"
    with psycopg.connect(neodev_postgres.dsn, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('precious')").fetchone() == (None,)
        conn.execute("CREATE TABLE precious (note text)")  # a table of the same name, elsewhere
        conn.execute("INSERT INTO precious VALUES ('test data')")


def test_per_test_databases_on_the_dev_server(neodev_db):
    record("attach.jsonl", db=neodev_db.dbname, port=neodev_db.port)
    with psycopg.connect(neodev_db.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE scratch (x int)")
'''


def _databases(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        return {r[0] for r in conn.execute("SELECT datname FROM pg_database")}


def _labelled_database(dsn: str, name: str, labels: dict[str, str]) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        conn.execute(f"COMMENT ON DATABASE \"{name}\" IS '{json.dumps(labels)}'")


def test_attach_uses_the_dev_server_and_leaves_its_data_untouched(
        pytester: pytest.Pytester, dev_postgres: DevPostgres, engine: docker.DockerClient
        ) -> None:
    with psycopg.connect(dev_postgres.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE precious (note text)")
        conn.execute("INSERT INTO precious VALUES ('developer data')")
    # A crashed run's database (owner: this pid, but another create time = a process that is
    # gone), and one of a run on another machine sharing the server (never judged from here).
    _labelled_database(dev_postgres.dsn, "neotool_dev_pytest_crashed", pytest_labels(
        "crashed00000", os.getpid(), 1.0, socket.gethostname()))
    _labelled_database(dev_postgres.dsn, "neotool_dev_pytest_elsewhere", pytest_labels(
        "elsewhere000", os.getpid(), 1.0, "another-host"))
    before = _databases(dev_postgres.dsn)

    inner = run_inner(pytester, ATTACH_SUITE, "--neodev-attach", "--neodev-profile", "devlike")
    inner.result.assert_outcomes(passed=2)

    rows = inner.records("attach.jsonl")
    dev = engine.containers.get(dev_postgres.container)
    assert {r["port"] for r in rows} == {container_published_port(dev, 5432)}
    assert rows[0]["container"] == dev_postgres.container
    assert rows[0]["db"] == f"neotool_dev_pytest_{inner.session}"
    with psycopg.connect(dev_postgres.dsn) as conn:
        assert conn.execute("SELECT note FROM precious").fetchall() == [("developer data",)]
    after = _databases(dev_postgres.dsn)
    assert after == before - {"neotool_dev_pytest_crashed"}, after ^ before
    assert dev.status == "running"
    assert leftovers(engine, inner.session) == []  # attach started no container of its own


def test_attach_without_a_running_dev_postgres_says_how_to_start_it(
        pytester: pytest.Pytester, plugin_env: pytest.MonkeyPatch) -> None:
    plugin_env.setenv("POSTGRES_PASSWORD", DEV_PASSWORD)
    plugin_env.setenv("GRAFANA_ADMIN_PASSWORD", "unused-here")
    project = f"ndnone{uuid.uuid4().hex[:8]}"
    workspace = pytester.path / "ws"
    (workspace / "profiles").mkdir(parents=True)
    (workspace / "profiles" / "local.toml").write_text(
        f'[project]\nname = "{project}"\n'
        f'compose = ["{REPO_ROOT / "compose" / "docker-compose.local.yml"}"]\n')
    plugin_env.setenv("NEODEV_WORKSPACE", str(workspace))
    inner = run_inner(pytester, "def test_x(neodev_postgres):\n    pass\n", "--neodev-attach",
                      timeout=60)
    inner.result.assert_outcomes(errors=1)
    inner.result.stdout.fnmatch_lines([
        f"*attach mode: no running Postgres container of compose project '{project}'*",
        "*neodev start --wait postgres*"])
