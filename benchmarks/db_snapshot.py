"""`neodev db snapshot` / `restore` against the dump a developer would otherwise take.

The workspace is the repository's compose file (Postgres only, the local test image), started
by the real `neodev start --wait postgres`. The database is filled with `--mb` megabytes (a
table of random text with an index). Then, interleaved, `--runs` times each:

- neodev: `neodev db snapshot bench` then `neodev db restore bench` (through the CLI and the
  daemon: units paused, template copy, automatic before-restore snapshot by rename), then the
  snapshots dropped;
- the dump a developer would take: `pg_dump -Fc` of the database to a file in the container,
  then `pg_restore` into a fresh database (what "save my data before I try this migration"
  costs without neodev), run with `docker exec` in the same container;
- the fastest same-server copy by hand, the floor neodev's own copy can approach: `CREATE
  DATABASE ... TEMPLATE ... STRATEGY FILE_COPY` through `docker exec psql` (nobody else is
  connected here; neodev's snapshot is the same statement, plus the CLI and the daemon, the
  pause of the units using the database, the label and the seal), and for the restore the same
  by hand: rename the database aside, copy the snapshot into its place.

Figures: the median of each step, neodev's time as a ratio of the dump's and of the hand copy's
(what neodev adds to the floor). Everything is torn down at the end (`neodev down
--volumes`).

Run: `.venv/bin/python benchmarks/db_snapshot.py [--mb 200] [--runs 3]` (needs the engine and
the test images: `bash tests/run.sh` prepares both).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from benchlib import Summary, compose_workspace, kill_daemon, ratio


def run(env: dict[str, str], *args: str, timeout: float = 600) -> str:
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def timed(env: dict[str, str], *args: str) -> float:
    began = time.perf_counter()
    run(env, *args)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=200, help="data to load (MiB, roughly)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="neodev-bench-db-") as tmp:
        root = Path(tmp)
        project = f"ndbdb{uuid.uuid4().hex[:6]}"
        _, env = compose_workspace(root, project)
        neodev = [sys.executable, "-m", "neodev"]
        container = f"{project}-postgres-1"
        user, db = "neotool", "neotool_dev"
        psql = ["docker", "exec", container, "psql", "-X", "-q", "-U", user, "-d", db, "-c"]
        try:
            run(env, *neodev, "start", "--wait", "postgres")
            rows = args.mb * 1024 * 1024 // 400  # ~400 bytes a row on disk, index included
            run(env, *psql, "CREATE TABLE bench (id bigint PRIMARY KEY, body text)")
            run(env, *psql, f"INSERT INTO bench SELECT g, repeat(md5(g::text), 8) "
                            f"FROM generate_series(1, {rows}) g")
            size = run(env, *psql[:-1], "-At", "-c",
                       f"SELECT pg_size_pretty(pg_database_size('{db}'))").strip()
            print(f"database {db}: {size} ({rows} rows), {args.runs} interleaved rounds\n")

            took: dict[str, list[float]] = {k: [] for k in (
                "snapshot", "restore", "pg_dump", "pg_restore", "hand copy", "hand restore")}
            admin = [*psql[:-3], "-d", "postgres", "-c"]
            for _ in range(args.runs):
                took["snapshot"].append(timed(env, *neodev, "db", "snapshot", "bench"))
                took["restore"].append(timed(env, *neodev, "db", "restore", "bench"))
                listed = json.loads(run(env, *neodev, "db", "list", "--json"))
                for snap in listed:
                    run(env, *neodev, "db", "drop", snap["name"])
                took["pg_dump"].append(timed(env, "docker", "exec", container, "pg_dump", "-Fc",
                                             "-U", user, "-d", db, "-f", "/tmp/bench.dump"))
                run(env, "docker", "exec", container, "createdb", "-U", user, "bench_restore")
                took["pg_restore"].append(timed(env, "docker", "exec", container, "pg_restore",
                                                "-U", user, "-d", "bench_restore",
                                                "/tmp/bench.dump"))
                run(env, "docker", "exec", container, "dropdb", "-U", user, "bench_restore")
                took["hand copy"].append(timed(
                    env, *admin, f"CREATE DATABASE bench_hand TEMPLATE {db} STRATEGY FILE_COPY"))
                took["hand restore"].append(timed(
                    env, *admin, f"ALTER DATABASE {db} RENAME TO bench_aside",
                    "-c", f"CREATE DATABASE {db} TEMPLATE bench_hand STRATEGY FILE_COPY "
                          f"OWNER {user}"))
                run(env, *admin, "DROP DATABASE bench_aside", "-c", "DROP DATABASE bench_hand")

            for step, values in took.items():
                print(f"{step:<11} {Summary.of(values).s()}")
            median = {k: statistics.median(v) for k, v in took.items()}
            print(f"\nsnapshot vs pg_dump:    {ratio(median['snapshot'], median['pg_dump'])}")
            print(f"restore vs pg_restore:  {ratio(median['restore'], median['pg_restore'])}")
            print(f"snapshot vs hand copy:  {ratio(median['snapshot'], median['hand copy'])}   "
                  f"({median['snapshot'] - median['hand copy']:+.2f} s: the CLI, the daemon, "
                  "pausing the units, label and seal)")
            print(f"restore vs hand restore: {ratio(median['restore'], median['hand restore'])}"
                  f"   ({median['restore'] - median['hand restore']:+.2f} s)")
        finally:
            subprocess.run([*neodev, "down", "--volumes"], env=env, capture_output=True,
                           timeout=300, check=False)
            kill_daemon(root)


if __name__ == "__main__":
    main()
