"""`neodev db snapshot|restore|list|drop` on a real Postgres (the local test image), through the
real CLI and daemon.

The profile has a process that depends on the database and keeps a connection open to it, as
the backend does: Postgres refuses to copy a database anybody is connected to, so the
snapshot only succeeds if neodev stops that unit for the copy (and it must be running again
afterwards). A session neodev does not manage (the test's own, named like an IDE's) is named
in the refusal, and disconnected only with --force.
"""

from __future__ import annotations

import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import docker
import psycopg
import pytest

from tests.integration.stack_workspace import NeodevCLI, StackWorkspace, new_workspace, wait_until
from tests.ports import free_ports

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
    assert wait_until(lambda: holder_connected(ws), 30)

    taken = cli("db", "snapshot", "base")
    assert taken.code == 0, taken.err
    assert re.search(r"snapshot base of neotool_dev taken in \d+\.\d+s", taken.out)
    assert "holder stopped and started again" in taken.out  # else the copy was refused
    assert wait_until(lambda: holder_running(cli) and holder_connected(ws), 30)

    with psycopg.connect(dsn(ws), autocommit=True) as conn:
        conn.execute("DELETE FROM plants WHERE name = 'fern'")
    assert rows(ws) == ["moss"]

    restored = cli("db", "restore", "base", "--json")
    assert restored.code == 0, restored.err
    outcome = restored.json()
    assert outcome["restored"]["name"] == "base" and outcome["paused"] == ["holder"]
    assert rows(ws) == ["fern", "moss"]  # the deleted row is back
    assert wait_until(lambda: holder_running(cli) and holder_connected(ws), 30)

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
