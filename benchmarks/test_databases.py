"""Database benchmark of the pytest plugin: a script, not a test (despite its name).

pytest never collects it: `testpaths` is `tests/`, and `__test__ = False` below stops a
`pytest benchmarks/` as well; nothing here is named `test_*`.

Measured in one run, on the local test image (PostgreSQL 15) and the repository's `local`
profile, through the plugin's own machinery (`neodev.testing.services.NeodevSession`):

- time to the first ready Postgres fixture: a new run's session -> container created,
  healthcheck passed (over TCP), first connection from the host answered; repeated with a fresh
  container each time;
- per-test isolation cost, interleaved on one server, each contender its create and its
  clean-up:
  - a clone of the migrated template (`CREATE DATABASE ... TEMPLATE`, what `neodev_db` does),
    then its drop;
  - pytest-postgresql's own template fixture, as its `postgresql` fixture runs it per test:
    its `DatabaseJanitor` with `template_dbname` (terminate the template's sessions, `CREATE
    DATABASE ... TEMPLATE`), then its `drop()`; the template made and loaded by its own
    janitor (`as_template=True`, then `load`) once, untimed, like neodev's;
  - per-test transaction rollback on one kept connection to the migrated database (`BEGIN`
    ... `ROLLBACK`, what pytest-django or a SQLAlchemy fixture does): the cheapest, but the
    test cannot commit, open a second connection that sees its data, or run what cannot run
    in a transaction (`CREATE DATABASE`, `VACUUM`, `CREATE INDEX CONCURRENTLY`);
  - `CREATE DATABASE` + running the schema (what a suite without a template pays per test),
    then its drop.
  The schema is of a realistic size: 30 tables with foreign keys, unique and check
  constraints, 2-3 indexes each, and 3 lookup tables with 200 rows.

Run: `.venv/bin/python benchmarks/test_databases.py [--starts 3] [--databases 20]
[--volumes tmpfs|anonymous] [--install-peers]` (needs the engine and the test images: `bash
tests/run.sh` prepares both; pytest-postgresql from PyPI goes into benchmarks/.peers/python
with `--install-peers`, not into the venv, where its pytest plugin would load in every run).
`--volumes anonymous` measures the on-disk alternative to the default tmpfs.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "benchmarks" / ".peers" / "python"
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from neodev.testing.databases import Databases  # noqa: E402
from neodev.testing.endpoints import PostgresService  # noqa: E402
from neodev.testing.run import RunInfo  # noqa: E402
from neodev.testing.services import NeodevSession  # noqa: E402
from neodev.testing.settings import Settings  # noqa: E402

__test__ = False
T = TypeVar("T")

TABLES = 30
LOOKUP_ROWS = 200


def schema_sql(tables: int = TABLES) -> str:
    """30 related tables with constraints and indexes, 3 of them with lookup rows."""
    parts = []
    for i in range(tables):
        parent = f",\n  parent_id bigint REFERENCES t{i - 1} (id) ON DELETE CASCADE" if i else ""
        parts.append(f"""
CREATE TABLE t{i} (
  id bigserial PRIMARY KEY,
  code text NOT NULL UNIQUE,
  name text NOT NULL,
  amount numeric(12, 2) NOT NULL DEFAULT 0 CHECK (amount >= 0),
  quantity integer NOT NULL DEFAULT 0,
  active boolean NOT NULL DEFAULT true,
  attributes jsonb NOT NULL DEFAULT '{{}}',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz{parent}
);
CREATE INDEX t{i}_name ON t{i} (name);
CREATE INDEX t{i}_created ON t{i} (created_at DESC) WHERE active;
{f"CREATE INDEX t{i}_parent ON t{i} (parent_id);" if i else ""}""")
    for i in range(3):
        parts.append(f"INSERT INTO t{i} (code, name, amount) SELECT 'c' || g, 'name ' || g, g "
                     f"FROM generate_series(1, {LOOKUP_ROWS}) g;")
    return "\n".join(parts)


def migrate(target: PostgresService) -> None:
    with psycopg.connect(target.dsn) as conn:
        conn.execute(schema_sql())


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def migrated(databases: Databases, name: str) -> PostgresService:
    """What a suite without a template pays per test: an empty database, then the schema."""
    database = databases.create(name)
    migrate(database)
    return database


def first_ready_postgres(settings: Settings) -> float:
    """Seconds from a new run's session to a Postgres fixture that answered a query."""
    session = NeodevSession(settings, RunInfo.new())
    try:
        start = time.perf_counter()
        pg = session.postgres()
        with psycopg.connect(pg.dsn, connect_timeout=10) as conn:
            conn.execute("SELECT 1")
        return time.perf_counter() - start
    finally:
        session.finish()


def install_peers() -> None:
    """pytest-postgresql from PyPI into benchmarks/.peers/python (its janitor needs only
    psycopg and packaging, both in the test extra; its own dependencies are for its plugin)."""
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--target", str(PEERS), "pytest-postgresql"], check=True)


def janitor_class() -> Any:
    """pytest-postgresql's DatabaseJanitor, from benchmarks/.peers/python (None without it)."""
    if not PEERS.is_dir():
        return None
    sys.path.append(str(PEERS))
    try:
        from pytest_postgresql.janitor import DatabaseJanitor
    except ImportError:
        return None
    return DatabaseJanitor


def janitor_of(server: PostgresService, janitor: Any, dbname: str, **kw: Any) -> Any:
    return janitor(user=server.user, host=server.host, port=server.port, dbname=dbname,
                   password=server.password, **kw)


def rolled_back(conn: Any) -> None:
    """What a rollback fixture pays per test on its kept connection."""
    conn.execute("BEGIN")
    conn.execute("ROLLBACK")


def summary(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    return f"median {statistics.median(ms):7.1f} ms   min {ms[0]:7.1f}   p90 {p90:7.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=3, help="fresh Postgres starts")
    parser.add_argument("--databases", type=int, default=20, help="databases of each kind")
    parser.add_argument("--volumes", choices=("tmpfs", "anonymous"), default="tmpfs",
                        help="the plugin's neodev_volumes: data in memory or on disk")
    parser.add_argument("--install-peers", action="store_true",
                        help="pip install pytest-postgresql into benchmarks/.peers/python")
    opts = parser.parse_args()
    if opts.install_peers:
        install_peers()
    janitor = janitor_class()
    if janitor is None:
        print("pytest-postgresql: not installed, skipped (run with --install-peers)")
    os.environ.setdefault("NEODEV_POSTGRES_IMAGE", "neodev-test/postgres:15")
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    settings = Settings(workspace=ROOT, profile="local", volumes=opts.volumes)

    starts = [first_ready_postgres(settings) for _ in range(opts.starts)]
    print(f"first ready Postgres fixture ({opts.starts} fresh containers, image "
          f"{os.environ['NEODEV_POSTGRES_IMAGE']}, data in {opts.volumes} volumes):")
    print(f"  {summary(starts)}")

    session = NeodevSession(settings, RunInfo.new(), migrate=migrate)
    fresh_databases = None
    times: dict[str, list[float]] = {k: [] for k in ("clone", "clone drop", "janitor",
                                                     "janitor drop", "rollback", "fresh",
                                                     "fresh drop")}
    try:
        server = session.postgres()  # the server first: the template's time is its own
        template_time, first = timed(session.database)  # first call: template made, migrated
        session.drop_database(first)
        # Plain CREATE DATABASE on the same server, with the same labels.
        fresh_databases = Databases(server, session.run.labels)
        template_janitor = None
        if janitor is not None:  # pytest-postgresql's template, made its own way, untimed
            template_janitor = janitor_of(server, janitor, "bench_pypg_template",
                                          as_template=True)
            template_janitor.init()
            template_janitor.load(lambda **kw: migrate(server.with_database(kw["dbname"])))
        kept = session.database()  # the rollback fixture's database, migrated like the rest
        with psycopg.connect(kept.dsn, autocommit=True) as conn:
            for i in range(opts.databases):  # interleaved: all see the same server state
                seconds, clone = timed(session.database)
                times["clone"].append(seconds)
                times["clone drop"].append(
                    timed(functools.partial(session.drop_database, clone))[0])
                if template_janitor is not None:
                    per_test = janitor_of(server, janitor, f"bench_pypg_{i}",
                                          template_dbname="bench_pypg_template")
                    times["janitor"].append(timed(per_test.init)[0])
                    times["janitor drop"].append(timed(per_test.drop)[0])
                times["rollback"].append(timed(functools.partial(rolled_back, conn))[0])
                name = fresh_databases.next_name(f"bench_fresh_{session.run.session}")
                seconds, fresh = timed(functools.partial(migrated, fresh_databases, name))
                times["fresh"].append(seconds)
                times["fresh drop"].append(
                    timed(functools.partial(session.drop_database, fresh))[0])
        session.drop_database(kept)
        if template_janitor is not None:
            template_janitor.drop()
    finally:
        if fresh_databases is not None:
            fresh_databases.close()
        session.finish()
    report(times, opts.databases, template_time)


def report(times: dict[str, list[float]], count: int, template_time: float) -> None:
    print(f"per-test isolation ({count} of each, interleaved; schema: {TABLES} tables, "
          f"{LOOKUP_ROWS * 3} lookup rows; neodev's template made once in "
          f"{template_time * 1000:.0f} ms):")
    rows = [("neodev_db: clone of the migrated template", "clone", "clone drop"),
            ("pytest-postgresql: its template fixture", "janitor", "janitor drop"),
            ("CREATE DATABASE + the schema", "fresh", "fresh drop")]
    medians: dict[str, float] = {}
    for label, create, drop in rows:
        if not times[create]:
            continue
        total = [a + b for a, b in zip(times[create], times[drop], strict=True)]
        medians[label] = statistics.median(total)
        print(f"  {label}")
        print(f"    create:           {summary(times[create])}")
        print(f"    drop:             {summary(times[drop])}")
        print(f"    create + drop:    {summary(total)}")
    print("  rollback of a transaction on one kept connection (BEGIN ... ROLLBACK)")
    print(f"    per test:         {summary(times['rollback'])}")
    ours = medians["neodev_db: clone of the migrated template"]
    print("  medians of create + drop, against neodev_db's:")
    for label, value in medians.items():
        print(f"    {label:<44} {value * 1000:8.1f} ms  {value / ours:5.2f}x")
    rollback = statistics.median(times["rollback"])
    print(f"    {'rollback (no database made)':<44} {rollback * 1000:8.1f} ms  "
          f"{rollback / ours:5.2f}x")


if __name__ == "__main__":
    main()
