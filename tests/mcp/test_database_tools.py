"""The agent server's database and teardown tools on a real Postgres (the local test image):
a snapshot, a refused and then a confirmed restore, a refused and then a confirmed `down`
with volumes — each checked against the database itself, not only against the answers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import docker
import psycopg
import pytest

from tests.integration.stack_workspace import NeodevCLI, StackWorkspace, new_workspace
from tests.mcp.harness import Workspace, call, refusal, session
from tests.ports import free_ports

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300)]

PASSWORD = "test-secret-pw"
"""The stack workspace's POSTGRES_PASSWORD (in its .env)."""


@pytest.fixture
def database(tmp_path: Path, docker_client: docker.DockerClient
             ) -> Iterator[tuple[StackWorkspace, NeodevCLI]]:
    db, metrics = free_ports(2)
    ws = new_workspace(tmp_path, {"db": db, "metrics": metrics})
    cli = NeodevCLI(ws)
    started = cli("start", "--wait", "--timeout", "120", "db")
    assert started.code == 0, started.out + started.err
    yield ws, cli
    cli.cleanup()


def plants(ws: StackWorkspace, sql: str | None = None) -> list[str]:
    dsn = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{ws.ports['db']}/neotool_dev"
    with psycopg.connect(dsn, connect_timeout=10, autocommit=True) as conn:
        if sql:
            conn.execute(sql)
        return [r[0] for r in conn.execute("SELECT name FROM plants ORDER BY name")]


async def test_snapshot_restore_and_down_with_volumes_need_and_honour_a_confirmation(
        database: tuple[StackWorkspace, NeodevCLI]) -> None:
    ws, _ = database
    assert plants(ws, "CREATE TABLE plants (name text); INSERT INTO plants VALUES ('fern')"
                  ) == ["fern"]
    answers: list[str] = []
    async with session(Workspace(ws.root, ws.root, 0)) as client:
        taken = await call(client, "db_take_snapshot", name="before")
        listed = await call(client, "db_list_snapshots")
        assert plants(ws, "DELETE FROM plants") == []
        refused_restore = await refusal(client, "db_restore_snapshot", name="before")
        after_refusal = plants(ws)
        restored = await call(client, "db_restore_snapshot", name="before", confirm=True)
        after_restore = plants(ws)
        refused_down = await refusal(client, "down", volumes=True)
        still = await call(client, "status")
        down = await call(client, "down", volumes=True, confirm=True)
        gone = await call(client, "status")
        answers += [json.dumps(a) for a in (taken, listed, restored, still, down, gone)]
        answers += [refused_restore, refused_down]
    assert taken["snapshot"]["name"] == "before" and taken["snapshot"]["database"] == "neotool_dev"
    assert [s["name"] for s in listed["snapshots"]] == ["before"]
    assert "neotool_dev" in refused_restore and "confirm=true" in refused_restore
    assert after_refusal == []  # the refusal changed nothing
    assert restored["restored"]["name"] == "before" and restored["saved"]["automatic"] is True
    assert after_restore == ["fern"]
    assert "pgdata" in refused_down and "confirm=true" in refused_down
    assert still["running"] is True
    assert any("pgdata" in volume for volume in down["volumes"])
    assert gone["running"] is False
    assert not [a for a in answers if PASSWORD in a]
