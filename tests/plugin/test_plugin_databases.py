"""Per-test databases: migrated once into a template, cloned per test, dropped after it;
and two xdist workers sharing one container set with a database each."""

from __future__ import annotations

import docker
import pytest

from tests.constants import PLUGIN_RUNS
from tests.plugin.conftest import RECORD, leftovers, run_inner

pytestmark = [pytest.mark.docker, pytest.mark.xdist_group(PLUGIN_RUNS)]

SCHEMA = """
CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE INDEX items_name ON items (name);
INSERT INTO items (name) VALUES ('from the sql file');
"""

MIGRATING_CONFTEST = RECORD + '''
import psycopg


def pytest_neodev_migrate(dsn, postgres):
    record("migrations.jsonl", db=postgres.dbname)
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO items (name) VALUES ('from the hook')")
'''

ISOLATION_SUITE = RECORD + '''
import psycopg


def names(conn):
    return [r[0] for r in conn.execute("SELECT name FROM items ORDER BY id")]


def test_first_gets_the_schema_and_leaves_a_table(neodev_db, neodev_postgres):
    record("dbs.jsonl", db=neodev_db.dbname, session_db=neodev_postgres.dbname)
    assert neodev_db.dbname != neodev_postgres.dbname
    with psycopg.connect(neodev_db.dsn) as conn:
        assert names(conn) == ["from the sql file", "from the hook"]
        conn.execute("CREATE TABLE scratch (x int)")
        conn.execute("INSERT INTO items (name) VALUES ('written by the first test')")


def test_second_sees_none_of_it(neodev_db, neodev_postgres):
    record("dbs.jsonl", db=neodev_db.dbname, session_db=neodev_postgres.dbname)
    with psycopg.connect(neodev_db.dsn) as conn:
        assert conn.execute("SELECT to_regclass('scratch')").fetchone() == (None,)
        assert names(conn) == ["from the sql file", "from the hook"]
    # The first test's database was dropped after it; the template is not connectable.
    with psycopg.connect(neodev_postgres.dsn) as conn:
        dbs = {r[0]: r[1] for r in conn.execute(
            "SELECT datname, datallowconn FROM pg_database WHERE datname LIKE 'neodev_%'")}
    assert [d for d in dbs if d.startswith("neodev_t_")] == [neodev_db.dbname]
    assert [allow for d, allow in dbs.items() if d.startswith("neodev_template_")] == [False]


def test_the_session_database_is_the_profiles_and_untouched(neodev_postgres):
    with psycopg.connect(neodev_postgres.dsn) as conn:
        assert conn.execute("SELECT to_regclass('items')").fetchone() == (None,)
'''


def test_each_test_gets_a_fresh_clone_of_the_template_migrated_once(
        pytester: pytest.Pytester, plugin_env: pytest.MonkeyPatch,
        engine: docker.DockerClient) -> None:
    pytester.makefile(".sql", schema=SCHEMA)
    pytester.makeini("[pytest]\nneodev_migrate = schema.sql\n")
    inner = run_inner(pytester, ISOLATION_SUITE, conftest=MIGRATING_CONFTEST)
    inner.result.assert_outcomes(passed=3)
    migrations = inner.records("migrations.jsonl")
    assert len(migrations) == 1, migrations  # once per run, not per test
    assert migrations[0]["db"] == f"neodev_template_{inner.session}"
    dbs = inner.records("dbs.jsonl")
    assert len({d["db"] for d in dbs}) == 2
    assert {d["session_db"] for d in dbs} == {"neotool_dev"}
    assert leftovers(engine, inner.session) == []


XDIST_SUITE = RECORD + '''
import psycopg
import pytest

pytestmark = pytest.mark.neodev("postgres")


@pytest.mark.parametrize("n", range(3))
def test_worker_uses_the_shared_server_and_its_own_databases(n, neodev_postgres, neodev_db):
    record("workers.jsonl", container=neodev_postgres.container_id, port=neodev_postgres.port,
           session_db=neodev_postgres.dbname, db=neodev_db.dbname)
    with psycopg.connect(neodev_postgres.dsn) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS mine (n int)")
        conn.execute("INSERT INTO mine VALUES (%s)", (n,))
        conn.commit()
        # Only this worker's rows: the session database is the worker's own.
        assert sorted(r[0] for r in conn.execute("SELECT n FROM mine")) == list(range(n + 1))
    with psycopg.connect(neodev_db.dsn) as conn:
        conn.execute("CREATE TABLE t (x int)")  # a fresh clone every time: never exists yet
'''


def test_two_xdist_workers_share_one_container_set_with_a_database_each(
        pytester: pytest.Pytester, plugin_env: pytest.MonkeyPatch,
        engine: docker.DockerClient) -> None:
    # --dist each: every test runs on both workers, so both really take part.
    inner = run_inner(pytester, XDIST_SUITE, "-n", "2", "--dist", "each")
    inner.result.assert_outcomes(passed=6)
    rows = inner.records("workers.jsonl")
    assert sorted({r["worker"] for r in rows}) == ["gw0", "gw1"]
    assert len({r["container"] for r in rows}) == 1  # one Postgres for the run
    assert len({r["port"] for r in rows}) == 1
    assert {r["worker"]: r["session_db"] for r in rows} == {
        "gw0": "neotool_dev_gw0", "gw1": "neotool_dev_gw1"}
    assert len({r["db"] for r in rows}) == 6  # no name clash between workers
    assert leftovers(engine, inner.session) == []
