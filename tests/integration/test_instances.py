"""Several checkouts of one profile side by side, against the real engine (issue 21).

Three scratch checkouts of the same profile started at the same moment: each is an instance
of its own — name, containers, volume, generated secret, database, host ports — and all are
healthy; data written in one is invisible in another, and `down --volumes` in one leaves the
others' data. Two of them sit in directories of the same name.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest
from docker.errors import NotFound

from tests.integration.instance_workspace import (
    Checkout,
    checkout,
    host_port,
    instance_of,
    psql,
    registry_entries,
    start_all,
)
from tests.integration.stack_workspace import NeodevCLI
from tests.ports import free_ports

pytestmark = pytest.mark.docker


@pytest.fixture
def three(tmp_path: Path) -> Iterator[list[tuple[Checkout, NeodevCLI]]]:
    project = f"ndi{uuid.uuid4().hex[:8]}"
    db, app = free_ports(2)
    ports = {"db": db, "app": app}
    # a and b: directories of the same name (the project's), in two parents
    made = [checkout(tmp_path / "a" / project, project, ports),
            checkout(tmp_path / "b" / project, project, ports),
            checkout(tmp_path / "c" / f"{project}-c", project, ports)]
    yield made
    for _, cli in reversed(made):
        cli.cleanup()


def test_three_checkouts_started_at_once_are_three_isolated_healthy_instances(
        three: list[tuple[Checkout, NeodevCLI]], docker_client: docker.DockerClient) -> None:
    clis = [cli for _, cli in three]
    for result in start_all(clis, "start", "--wait", "--timeout", "120"):
        assert result.returncode == 0, result.stderr + result.stdout
    statuses = [ws.status(cli) for ws, cli in three]
    infos = [instance_of(s) for s in statuses]
    names = [i["name"] for i in infos]
    project = three[0][0].project
    assert len(set(names)) == 3 and project in names
    assert sum(i["profile_ports"] for i in infos) == 1  # only the first keeps the profile's
    first = names.index(project)
    assert infos[first]["profile_ports"] and infos[first]["port_block"] is None
    blocks = sorted(i["port_block"] for i in infos if not i["profile_ports"])
    assert blocks[0] >= 20000 and blocks[1] > blocks[0] and blocks[1] % 100 == 0
    # every unit healthy; distinct host ports; each app told the port of its own Postgres
    for status in statuses:
        assert all(u["ready"] for u in status["units"]), status["units"]
    hosts = [{(p["unit"], p["host"]) for p in i["ports"]} for i in infos]
    all_ports = [p for h in hosts for _, p in h]
    assert len(all_ports) == len(set(all_ports)) == 6
    for status in statuses:
        answer = httpx.get(f"http://127.0.0.1:{host_port(status, 'app')}/", timeout=5,
                           trust_env=False)
        assert answer.status_code == 200
        assert answer.text == str(host_port(status, "db"))
        endpoints = {u["name"]: u["endpoints"] for u in status["units"]}
        assert endpoints["app"] == [f"http://127.0.0.1:{host_port(status, 'app')}"]
    # their own containers, volumes, secrets; two directories of one name, two names
    containers = {docker_client.containers.get(f"{n}-db-1").id for n in names}
    assert len(containers) == 3
    volumes = {n: docker_client.volumes.get(f"{n}_pgdata") for n in names}
    for (ws, _), name in zip(three, names, strict=True):
        assert volumes[name].attrs["Labels"]["dev.neodev.workspace"] == str(ws.root.resolve())
    assert len({ws.secret() for ws, _ in three}) == 3
    # a and b: one directory name, two names (which checkout got the profile's name first
    # depends on who took the registry's lock first)
    assert names[0] != names[1] and all(n.startswith(project) for n in names)
    registered = registry_entries(Path(os.environ["NEODEV_STATE_HOME"]))
    assert sorted(e["name"] for e in registered) == sorted(names)
    assert all(e["daemon_pid"] for e in registered)

    # data: a row written in A is invisible in B
    a, b, c = names
    psql(docker_client, f"{a}-db-1", "create table t (x text); insert into t values ('A')")
    assert psql(docker_client, f"{b}-db-1", "select to_regclass('t') is null") == "t"

    # down --volumes in B deletes B's data only
    down = three[1][1]("down", "--volumes")
    assert down.code == 0, down.err
    assert f"deleted volume {b}_pgdata" in down.out
    with pytest.raises(NotFound):
        docker_client.volumes.get(f"{b}_pgdata")
    assert psql(docker_client, f"{a}-db-1", "select x from t") == "A"
    assert docker_client.containers.get(f"{c}-db-1").status == "running"

    # B started again: the same name and ports (recorded), a fresh database
    again = three[1][1]("start", "--wait", "--timeout", "120")
    assert again.code == 0, again.err + again.out
    info = instance_of(three[1][0].status(three[1][1]))
    assert info["name"] == b and info["ports"] == infos[1]["ports"]
    assert psql(docker_client, f"{b}-db-1", "select to_regclass('t') is null") == "t"
    text = three[1][1]("status").out
    if infos[1]["profile_ports"]:
        assert f"instance {b} (the profile's ports)" in text.splitlines()[0]
    else:
        assert f"instance {b} (ports {info['port_block']}-" in text.splitlines()[0]
        assert f"ports of this instance: db {three[1][0].ports['db']}→" in text


def test_db_from_branches_another_instance_s_data_by_a_physical_copy(
        tmp_path: Path, docker_client: docker.DockerClient) -> None:
    import psycopg

    project = f"ndb{uuid.uuid4().hex[:8]}"
    ports = dict(zip(("db", "app"), free_ports(2), strict=True))
    made = [checkout(tmp_path / name, project, ports) for name in ("a", "c", "d")]
    (a_ws, a), (c_ws, c), (d_ws, d) = made
    try:
        assert a("start", "--wait", "db").code == 0
        a_name = instance_of(a_ws.status(a))["name"]
        psql(docker_client, f"{a_name}-db-1",
             "create table t (x text); insert into t values ('before')")
        assert a("db", "snapshot", "s1").code == 0
        psql(docker_client, f"{a_name}-db-1", "insert into t values ('after')")

        branched = c("start", "--wait", "--db-from", a_name, "db")
        assert branched.code == 0, branched.err + branched.out
        assert f"started from a copy of instance {a_name}'s database" in branched.err
        c_name = instance_of(c_ws.status(c))["name"]
        assert psql(docker_client, f"{c_name}-db-1", "select string_agg(x, ',' order by x) "
                    "from t") == "after,before"
        # the copy logs in with C's own (generated) password, no longer with A's
        c_port = host_port(c_ws.status(c), "db")
        dsn = "postgresql://postgres:{}@127.0.0.1:{}/neotool_dev"
        with psycopg.connect(dsn.format(c_ws.secret(), c_port), connect_timeout=5) as conn:
            assert conn.execute("select count(*) from t").fetchone() == (2,)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(dsn.format(a_ws.secret(), c_port), connect_timeout=5).close()

        # a snapshot of A (taken before 'after' was written) instead of its current data
        from_snapshot = d("start", "--wait", "--db-from", f"{a_name}:s1", "db")
        assert from_snapshot.code == 0, from_snapshot.err + from_snapshot.out
        d_name = instance_of(d_ws.status(d))["name"]
        assert psql(docker_client, f"{d_name}-db-1", "select string_agg(x, ',') from t") \
            == "before"

        # never into a database that runs or holds data; A's data is as it was
        refused = c("start", "--db-from", a_name, "db")
        assert refused.code == 8 and "runs already" in refused.err, refused.err
        assert c("stop").code == 0
        refused = c("start", "--db-from", a_name, "db")
        assert refused.code == 8 and "already holds a database cluster" in refused.err
        unknown = c("start", "--db-from", "nobody", "db")
        assert unknown.code == 2 and "no such instance" in unknown.err
        assert psql(docker_client, f"{a_name}-db-1", "select count(*) from t") == "2"
    finally:
        for _, cli in reversed(made):
            cli.cleanup()
