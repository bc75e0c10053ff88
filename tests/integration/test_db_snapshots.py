"""`neodev db snapshot|restore|list|drop` on a real Postgres (the local test image), through the
real CLI and daemon.

The profile has a process that depends on the database and keeps a connection open to it, as
the backend does: Postgres refuses to copy a database anybody is connected to, so the
snapshot only succeeds if neodev stops that unit for the copy (and it must be running again
afterwards). A session neodev does not manage (the test's own, named like an IDE's) is named
in the refusal, and disconnected only with --force.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import docker
import psycopg
import pytest

from neodev import pgsql
from neodev.config.model import ContainerSpec, EnvironmentPlan
from neodev.daemon.dbsnapshots import DatabaseSnapshots
from neodev.docker.client import ClientFactory
from neodev.docker.project import DockerProject
from neodev.docker.psql import PsqlRunner
from neodev.docker.runner import ContainerRunner
from neodev.errors import DockerError
from neodev.protocol.units import UnitRecord, UnitState
from tests.integration.docker_helpers import (
    POSTGRES_IMAGE,
    TEST_LABELS,
    Collector,
    postgres_spec,
    require_images,
    unique_project,
    wait_healthy,
)
from tests.integration.stack_workspace import NeodevCLI, StackWorkspace, new_workspace
from tests.ports import free_ports
from tests.waiting import until, until_async

pytestmark = pytest.mark.docker

PASSWORD = "test-secret-pw"
HOLDER = textwrap.dedent("""\
    # Holds a session on the dev database for as long as it runs, like a backend's pool.
    import os, time, psycopg
    with psycopg.connect(os.environ["DSN"], application_name="holder") as conn:
        conn.execute("SELECT 1")
        print("holder connected", conn.info.backend_pid, flush=True)
        while True:
            time.sleep(0.2)
    """)


@pytest.fixture
def workspace(tmp_path: Path, docker_client: docker.DockerClient
              ) -> Iterator[tuple[StackWorkspace, NeodevCLI]]:
    db, metrics = free_ports(2)
    ws = new_workspace(tmp_path, {"db": db, "metrics": metrics})
    (ws.root / "holder.py").write_text(HOLDER)
    profile = ws.root / "profiles" / "local.toml"
    profile.write_text(profile.read_text() + textwrap.dedent(f"""\

        [processes.holder]
        cwd = ".."
        command = ["{sys.executable}", "-u", "holder.py"]
        env = {{ DSN = "postgresql://postgres:{PASSWORD}@127.0.0.1:@{{db:5432}}/neotool_dev" }}
        depends_on = {{ db = "healthy" }}
        """))
    cli = NeodevCLI(ws)
    yield ws, cli
    cli.cleanup()


def dsn(ws: StackWorkspace, database: str = "neotool_dev") -> str:
    return f"postgresql://postgres:{PASSWORD}@127.0.0.1:{ws.ports['db']}/{database}"


def rows(ws: StackWorkspace) -> list[str]:
    with psycopg.connect(dsn(ws), connect_timeout=10) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM plants ORDER BY name")]


def holder_running(cli: NeodevCLI) -> bool:
    units = {u["name"]: u for u in cli("status", "--json").json()["units"]}
    return units["holder"]["state"] == "running"


def holder_connected(ws: StackWorkspace) -> bool:
    with psycopg.connect(dsn(ws, "postgres"), connect_timeout=10) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity "
                            "WHERE application_name = 'holder'").fetchone() == (1,)


def test_a_row_deleted_after_a_snapshot_comes_back_and_nothing_is_lost(workspace) -> None:
    ws, cli = workspace
    started = cli("start", "--wait", "db", "holder", timeout=180)
    assert started.code == 0, started.err
    with psycopg.connect(dsn(ws), autocommit=True) as conn:
        conn.execute("CREATE TABLE plants (name text)")
        conn.execute("INSERT INTO plants VALUES ('fern'), ('moss')")
    until(lambda: holder_connected(ws), "the holder connected", 30, interval=0.25)

    taken = cli("db", "snapshot", "base")
    assert taken.code == 0, taken.err
    assert re.search(r"snapshot base of neotool_dev taken in \d+\.\d+s", taken.out)
    assert "holder stopped and started again" in taken.out  # else the copy was refused
    until(lambda: holder_running(cli) and holder_connected(ws), "the holder back and connected", 30,
          interval=0.25)

    with psycopg.connect(dsn(ws), autocommit=True) as conn:
        conn.execute("DELETE FROM plants WHERE name = 'fern'")
    assert rows(ws) == ["moss"]

    restored = cli("db", "restore", "base", "--json")
    assert restored.code == 0, restored.err
    outcome = restored.json()
    assert outcome["restored"]["name"] == "base" and outcome["paused"] == ["holder"]
    assert rows(ws) == ["fern", "moss"]  # the deleted row is back
    until(lambda: holder_running(cli) and holder_connected(ws), "the holder back and connected", 30,
          interval=0.25)

    # the data the restore replaced was kept: restoring it brings the deletion back
    saved = outcome["saved"]["name"]
    assert saved.startswith("before-restore-") and outcome["saved"]["automatic"]
    listed = cli("db", "list", "--json").json()
    assert {s["name"] for s in listed} == {"base", saved}
    assert all(s["database"] == "neotool_dev" and s["size_bytes"] > 1_000_000 for s in listed)
    back = cli("db", "restore", saved)
    assert back.code == 0, back.err
    assert rows(ws) == ["moss"]

    text = cli("db", "list")
    assert text.code == 0 and "base" in text.out and "automatic (before a restore)" in text.out
    dropped = cli("db", "drop", "base")
    assert dropped.code == 0, dropped.err
    assert "base" not in {s["name"] for s in cli("db", "list", "--json").json()}


def test_refusals_name_the_database_the_snapshot_and_what_holds_it(workspace) -> None:
    ws, cli = workspace
    assert cli("db", "list").code == 6  # no daemon: says so, starts nothing
    started = cli("start", "--wait", "db", timeout=180)
    assert started.code == 0, started.err

    unknown = cli("db", "restore", "nope")
    assert unknown.code == 2
    assert "no snapshot 'nope'" in unknown.err and "none; take one" in unknown.err
    invalid = cli("db", "snapshot", "Not Valid")
    assert invalid.code == 2 and "invalid snapshot name 'Not Valid'" in invalid.err

    with psycopg.connect(dsn(ws), application_name="my-ide", autocommit=True) as ide:
        ide_pid = ide.info.backend_pid
        refused = cli("db", "snapshot", "held")
        assert refused.code == 8, refused.err
        assert "database 'neotool_dev'" in refused.err
        assert f"pid {ide_pid} my-ide" in refused.err and "--force" in refused.err
        assert ide.execute("SELECT 1").fetchone() == (1,)  # left alone without --force

        forced = cli("db", "snapshot", "held", "--force")
        assert forced.code == 0, forced.err
        with pytest.raises(psycopg.OperationalError):
            ide.execute("SELECT 1")

    taken_twice = cli("db", "snapshot", "held")
    assert taken_twice.code == 8 and "a snapshot named 'held' exists already" in taken_twice.err

    stopped = cli("stop", "db")
    assert stopped.code == 0, stopped.err
    down = cli("db", "list")
    assert down.code == 8 and "db is stopped" in down.err and "neodev start --wait db" in down.err


def test_a_snapshot_survives_the_daemon_and_is_sealed(workspace) -> None:
    ws, cli = workspace
    assert cli("start", "--wait", "db", timeout=180).code == 0
    assert cli("db", "snapshot", "kept").code == 0
    with pytest.raises(psycopg.OperationalError, match="not currently accepting connections"):
        psycopg.connect(dsn(ws, "neodev_snap_kept"), connect_timeout=10)
    first = cli.daemon_info()
    assert cli("down").code == 0  # containers and daemon gone, the volume kept
    assert cli("start", "--wait", "db", timeout=180).code == 0
    assert cli.daemon_info() != first  # a new daemon, which knew nothing of the snapshot
    listed = cli("db", "list", "--json").json()
    assert [s["name"] for s in listed] == ["kept"]


# -- a restore interrupted half-way, on the real server ------------------------------------
# DatabaseSnapshots with the daemon's real executor (psql in the container); only the units
# are a stand-in (nothing uses the database here, so nothing is paused).


class Units:
    def status_of(self, name: str) -> UnitRecord:
        return UnitRecord(name=name, kind="container", state=UnitState.RUNNING, ready=True)

    @contextlib.asynccontextmanager
    async def paused_users(self, server: str) -> AsyncIterator[list[str]]:
        yield []


class LosingExec:
    """The real executor, except that the restore's copy loses its `docker exec` once the
    server has made the copy (`after_copy`), the way a restarted engine or a broken socket
    would; and it says when the copy is on its way (`copying`)."""

    def __init__(self, inner: PsqlRunner) -> None:
        self.inner = inner
        self.after_copy = False
        self.copying = asyncio.Event()

    async def __call__(self, spec: ContainerSpec, statements: Sequence[str]) -> pgsql.Rows:
        copy = statements[0].startswith('CREATE DATABASE "neotool_dev" TEMPLATE')
        if copy:
            self.copying.set()
        rows = await self.inner(spec, statements)
        if copy and self.after_copy:
            raise DockerError("lost the docker exec (Docker engine connection reset)")
        return rows


@pytest.fixture
async def postgres(docker_client: docker.DockerClient
                   ) -> AsyncIterator[tuple[ContainerSpec, str, LosingExec]]:
    """The local Postgres image running in a project of its own: (spec, DSN of the dev
    database, the executor)."""
    require_images(docker_client, POSTGRES_IMAGE)
    clients = ClientFactory()
    project = DockerProject(unique_project(), clients, extra_labels=TEST_LABELS)
    try:
        await project.ensure_network()
        await project.ensure_volumes([f"{project.project}_pgdata"])
        spec = postgres_spec(project.project)
        runner = ContainerRunner(spec, project.project, project.network, Collector(), clients)
        await runner.start()
        await wait_healthy(runner)
        container = docker_client.containers.get(runner.container_id)
        port = container.attrs["NetworkSettings"]["Ports"]["5432/tcp"][0]["HostPort"]
        dsn = f"postgresql://postgres:test-pw@127.0.0.1:{port}/neotool_dev"
        yield spec, dsn, LosingExec(PsqlRunner(project.project, lambda: clients))
        await runner.stop(2)
    finally:
        await project.down(remove_volumes=True, grace=2)
        clients.close()


def plants(dsn: str) -> list[str]:
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM plants ORDER BY name")]


def databases(dsn: str) -> dict[str, tuple[bool, bool, str | None]]:
    """name -> (is a template, takes connections, comment) of every non-system database."""
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        rows = conn.execute("SELECT datname, datistemplate, datallowconn, "
                            "shobj_description(oid, 'pg_database') FROM pg_database "
                            "WHERE datname NOT IN ('postgres', 'template0', 'template1')")
        return {name: (template, allow, comment) for name, template, allow, comment in rows}


async def test_a_restore_interrupted_half_way_leaves_the_dev_database_as_it_was(
        postgres: tuple[ContainerSpec, str, LosingExec]) -> None:
    spec, dsn, executor = postgres
    plan = EnvironmentPlan(profile="local", project="p", workspace=Path("/w"),
                           profile_file=Path("/w/profiles/local.toml"), network="p_default",
                           containers={spec.name: spec})
    snapshots = DatabaseSnapshots(plan, executor, Units())
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE plants (name text)")
        conn.execute("INSERT INTO plants VALUES ('fern'), ('moss')")
    await snapshots.take("base")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM plants WHERE name = 'fern'")
    as_it_was = {"neotool_dev": (False, True, None), "neodev_snap_base": databases(dsn)[
        "neodev_snap_base"]}

    # 1. The docker exec is lost after the server made the copy.
    executor.after_copy = True
    with pytest.raises(DockerError, match="lost the docker exec"):
        await snapshots.restore("base")
    assert plants(dsn) == ["moss"]  # the dev data, not the snapshot's
    assert databases(dsn) == as_it_was

    # 2. Cancelled while the copy runs on the server (held there by a lock another session
    # keeps on the snapshot, as a long copy of a big database would be running).
    executor.after_copy = False
    executor.copying.clear()
    admin = dsn.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin) as holder:
        holder.execute('COMMENT ON DATABASE "neodev_snap_base" IS NULL')  # open transaction
        restore = asyncio.create_task(snapshots.restore("base"))
        await asyncio.wait_for(executor.copying.wait(), 30)

        def copy_waits() -> bool:
            with psycopg.connect(admin, autocommit=True) as conn:
                return bool(conn.execute(pgsql.copies_into("neotool_dev")).fetchall())

        await until_async(copy_waits, "the copy running on the server", 30, interval=0.2)
        restore.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(restore, 60)
        assert not copy_waits()  # ended, not left to land (or fail) after the put-back
        holder.rollback()
    assert plants(dsn) == ["moss"]
    assert databases(dsn) == as_it_was

    # Nothing broken: the same restore goes through now.
    restored = await snapshots.restore("base")
    assert plants(dsn) == ["fern", "moss"] and restored.saved is not None
