"""Two independent pytest runs of the plugin at once (two developers' suites, two CI jobs on
one engine) never collide: each gets its own containers, ports, network and databases, and
one run ending — its cleanup, its janitor — leaves the other's services alone.

The two inner suites run as two pytest processes started side by side (pytester runs one
suite at a time, in its own working directory), synchronised by files so their services
really are up at the same moment, and run `b` goes on working after run `a` has ended.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import docker
import pytest

from tests.constants import PLUGIN_RUNS
from tests.plugin.conftest import INNER_CONFTEST, INNER_TIMEOUT, RECORD, leftovers
from tests.waiting import until

pytestmark = [pytest.mark.docker, pytest.mark.xdist_group(PLUGIN_RUNS)]

PARALLEL_SUITE = RECORD + '''
import os
import pathlib

import psycopg

from neodev.timing import poll_until

RUN = os.environ["PARALLEL_RUN"]
OTHER = "b" if RUN == "a" else "a"
SYNC = pathlib.Path(os.environ["PARALLEL_SYNC"])


def wait_for(name, timeout=180):
    def arrived():
        assert not (SYNC / f"{OTHER}-ended").exists(), f"run {OTHER} ended before {name}"
        return (SYNC / name).exists()
    assert poll_until(arrived, timeout, 0.1), f"{name} never came"


def rows(dsn, table):
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        return [r[0] for r in conn.execute(f"SELECT run FROM {table} ORDER BY run")]


def test_both_runs_use_services_of_their_own_at_once(neodev_postgres, neodev_db):
    with psycopg.connect(neodev_postgres.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE marks (run text)")  # fails if the other run's is here
        conn.execute("INSERT INTO marks VALUES (%s)", (RUN,))
    with psycopg.connect(neodev_db.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE per_test (run text)")
        conn.execute("INSERT INTO per_test VALUES (%s)", (RUN,))
    record("services.jsonl", run=RUN, port=neodev_postgres.port,
           container=neodev_postgres.container_id, database=neodev_db.dbname)
    (SYNC / f"{RUN}-up").write_text("")
    wait_for(f"{OTHER}-up")  # both runs' services are up now
    if RUN == "b":  # run a ends and cleans up; b's services must be intact afterwards
        assert poll_until((SYNC / "a-ended").exists, 180, 0.1), "run a never ended"
    assert rows(neodev_postgres.dsn, "marks") == [RUN]
    assert rows(neodev_db.dsn, "per_test") == [RUN]
'''


def start_run(directory: Path, name: str, sync: Path) -> subprocess.Popen[str]:
    directory.mkdir()
    (directory / "conftest.py").write_text(INNER_CONFTEST)
    (directory / "test_inner.py").write_text(textwrap.dedent(PARALLEL_SUITE))
    env = {**os.environ, "PARALLEL_RUN": name, "PARALLEL_SYNC": str(sync)}
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--rootdir",
         str(directory), "test_inner.py"], cwd=directory, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_two_runs_at_once_never_collide(tmp_path: Path, plugin_env: pytest.MonkeyPatch,
                                        engine: docker.DockerClient) -> None:
    sync = tmp_path / "sync"
    sync.mkdir()
    runs = {name: start_run(tmp_path / name, name, sync) for name in ("a", "b")}
    outputs: dict[str, str] = {}

    def ended() -> dict[str, str]:
        """The output of each run that has ended; tells the other run that it has."""
        for name, process in runs.items():
            if name not in outputs and process.poll() is not None:
                outputs[name] = process.communicate()[0]
                (sync / f"{name}-ended").write_text("")
        return outputs

    try:
        until(ended, "the end of both runs", INNER_TIMEOUT,
              ok=lambda done: len(done) == len(runs), interval=0.1)
    finally:
        for process in runs.values():
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=30)
    assert runs["a"].returncode == 0, outputs["a"]
    assert runs["b"].returncode == 0, outputs["b"]

    records = {}
    for name in ("a", "b"):
        lines = (tmp_path / name / "services.jsonl").read_text().splitlines()
        run = json.loads((tmp_path / name / "run.json").read_text())
        records[name] = {**json.loads(lines[0]), **run}
    a, b = records["a"], records["b"]
    assert a["session"] != b["session"]
    assert a["container"] != b["container"] and a["port"] != b["port"]
    assert a["directory"] != b["directory"]
    for run in (a, b):  # each run removed all it had, and only that
        assert leftovers(engine, run["session"]) == []
        assert not Path(run["directory"]).exists()
