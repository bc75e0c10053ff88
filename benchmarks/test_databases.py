"""Database benchmark of the pytest plugin: a script, not a test (despite its name).

pytest never collects it: `testpaths` is `tests/`, and `__test__ = False` below stops a
`pytest benchmarks/` as well; nothing here is named `test_*`.

Measured in one run, on the local test image (PostgreSQL 15) and the repository's `local`
profile, through the plugin's own machinery (`neodev.testing.services.NeodevSession`):

- time to the first ready Postgres fixture: a new run's session -> container created,
  healthcheck passed (over TCP), first connection from the host answered; repeated with a fresh
  container each time;
- per-test database cost, interleaved on one server: a clone of the migrated template
  (`CREATE DATABASE ... TEMPLATE`, what `neodev_db` does) against `CREATE DATABASE` + running
  the schema (what a suite without a template pays per test). The schema is of a realistic
  size: 30 tables with foreign keys, unique and check constraints, 2-3 indexes each, and 3
  lookup tables with 200 rows.

Run: `.venv/bin/python benchmarks/test_databases.py [--starts 3] [--databases 20]
[--volumes tmpfs|anonymous]` (needs the engine and the test images: `bash tests/run.sh`
prepares both). `--volumes anonymous` measures the on-disk alternative to the default tmpfs.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
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
    opts = parser.parse_args()
    os.environ.setdefault("NEODEV_POSTGRES_IMAGE", "neodev-test/postgres:15")
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    settings = Settings(workspace=ROOT, profile="local", volumes=opts.volumes)

    starts = [first_ready_postgres(settings) for _ in range(opts.starts)]
    print(f"first ready Postgres fixture ({opts.starts} fresh containers, image "
          f"{os.environ['NEODEV_POSTGRES_IMAGE']}, data in {opts.volumes} volumes):")
    print(f"  {summary(starts)}")

    session = NeodevSession(settings, RunInfo.new(), migrate=migrate)
    fresh_databases = None
    try:
        session.postgres()  # the server first: the template's time is its own
        template_time, first = timed(session.database)  # first call: template made, migrated
        session.drop_database(first)
        # Plain CREATE DATABASE on the same server, with the same labels.
        fresh_databases = Databases(session.postgres(), session.run.labels)
        clone_times: list[float] = []
        fresh_times: list[float] = []
        drop_times: list[float] = []
        for _ in range(opts.databases):  # interleaved: both kinds see the same server state
            seconds, clone = timed(session.database)
            clone_times.append(seconds)
            drop_times.append(timed(functools.partial(session.drop_database, clone))[0])
            name = fresh_databases.next_name(f"bench_fresh_{session.run.session}")
            seconds, fresh = timed(functools.partial(migrated, fresh_databases, name))
            fresh_times.append(seconds)
            drop_times.append(timed(functools.partial(session.drop_database, fresh))[0])
    finally:
        if fresh_databases is not None:
            fresh_databases.close()
        session.finish()
    clone_median = statistics.median(clone_times)
    fresh_median = statistics.median(fresh_times)
    print(f"per-test database ({opts.databases} of each, interleaved; schema: {TABLES} tables, "
          f"{LOOKUP_ROWS * 3} lookup rows; template made once in {template_time * 1000:.0f} ms):")
    print(f"  clone of the migrated template:   {summary(clone_times)}")
    print(f"  CREATE DATABASE + the schema:     {summary(fresh_times)}")
    print(f"  drop (terminate + DROP DATABASE): {summary(drop_times)}")
    print(f"  ratio fresh / clone (medians):    {fresh_median / clone_median:.1f}x")


if __name__ == "__main__":
    main()
