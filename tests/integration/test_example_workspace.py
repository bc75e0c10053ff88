"""The shipped local profile on the demo workspace, end to end, through the real CLI and daemon.

Containers: PostgreSQL and Prometheus from the local test images (Grafana and Loki have no
local image and are not started). Processes: the demo backend, router and frontend from
examples/neotool-mini, with hot reload on real file events. The workspace is a copy, so edits
never touch the repository, and its compose project name is unique; the host ports are the
profile's own (5432, 9090, 8080, 4000, 8088, 3000), as a developer would get them.
"""

from __future__ import annotations

import json
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import psutil
import pytest

from tests.constants import PROFILE_PORTS, REPO_ROOT, TEST_POSTGRES_IMAGE, TEST_PROMETHEUS_IMAGE
from tests.integration.stack_workspace import (
    NeodevCLI,
    StackWorkspace,
    ready_at,
)
from tests.waiting import until

pytestmark = [pytest.mark.docker, pytest.mark.xdist_group(PROFILE_PORTS)]
UNITS = ["postgres", "prometheus", "backend", "router", "frontend"]
PROFILE_PORTS = (5432, 9090, 8080, 4000, 8088, 3000)


@pytest.fixture
def example(tmp_path: Path, docker_client: docker.DockerClient
            ) -> Iterator[tuple[StackWorkspace, NeodevCLI]]:
    from neodev import ports

    busy = [p for p in PROFILE_PORTS if not ports.can_bind("127.0.0.1", p)]
    if busy:
        pytest.fail(f"the local profile's ports {busy} are taken on this machine "
                    f"({[ports.port_holder(p)[1] for p in busy]}); stop what holds them")
    root = tmp_path / "ws"
    root.mkdir()
    for name in ("profiles", "compose", "examples"):
        shutil.copytree(REPO_ROOT / name, root / name)
    project = f"ndx{uuid.uuid4().hex[:8]}"
    profile = root / "profiles" / "local.toml"
    profile.write_text(profile.read_text().replace('name = "neotool"', f'name = "{project}"'))
    (root / ".env").write_text(
        (REPO_ROOT / ".env.example").read_text()
        + f"NEODEV_POSTGRES_IMAGE={TEST_POSTGRES_IMAGE}\n"
        + f"NEODEV_PROMETHEUS_IMAGE={TEST_PROMETHEUS_IMAGE}\n"
        # the demo backend reaches Postgres with psycopg, installed in the test interpreter
        + f"NEODEV_PYTHON={sys.executable}\n")
    ws = StackWorkspace(root=root, project=project, ports={})
    cli = NeodevCLI(ws)
    yield ws, cli
    cli.cleanup()


def units_by_name(cli: NeodevCLI) -> dict[str, dict]:
    return {u["name"]: u for u in cli("status", "--json").json()["units"]}


def test_local_profile_runs_the_demo_with_hot_reload_and_survives_a_daemon_kill(
        example: tuple[StackWorkspace, NeodevCLI], docker_client: docker.DockerClient) -> None:
    ws, cli = example
    result = cli("start", "--wait", "--timeout", "180", *UNITS)
    assert result.code == 0, result.err + result.out
    units = units_by_name(cli)
    assert all(units[u]["ready"] for u in UNITS)
    assert units["grafana"]["state"] == "pending"  # not requested

    # order: the backend started after Postgres was healthy (as neodev saw it: it runs the
    # healthcheck itself before Docker's first check), the router after the backend
    assert units["backend"]["started_at"] >= ready_at(ws, "postgres")
    assert units["router"]["started_at"] >= units["backend"]["started_at"]

    with httpx.Client(trust_env=False, timeout=5) as http:
        # the chain frontend page -> router -> backend -> Postgres works
        assert "neotool-mini" in http.get("http://127.0.0.1:3000/").text
        created = http.post("http://127.0.0.1:8080/items", json={"name": "from-test"})
        assert created.status_code == 201, created.text
        listed = http.post("http://127.0.0.1:4000/graphql",
                           json={"query": "{ items { id name } }"}).json()
        assert {"name": "from-test"} in [{"name": i["name"]} for i in listed["data"]["items"]]

        # Prometheus (a container) scrapes the host backend through the bridge gateway, from
        # the target file neodev wrote (the compose file's static defaults say project
        # "neotool"; this workspace's project is unique, so only neodev's file matches).
        def backend_target() -> str | None:
            targets = http.get("http://127.0.0.1:9090/api/v1/targets").json()
            found = [t for t in targets["data"]["activeTargets"]
                     if t["labels"].get("unit") == "backend"
                     and t["labels"].get("project") == ws.project]
            return found[0]["health"] if found else None
        until(backend_target, "the backend's target up", 40, ok=lambda health: health == "up",
              interval=0.25)
        target_file = ws.root / ".neodev/prometheus/targets/backend.json"
        assert json.loads(target_file.read_text())[0]["targets"] == [
            "host.docker.internal:8080"]

        def metric_queryable() -> bool:
            query = f'http_requests_total{{project="{ws.project}", unit="backend"}}'
            answer = http.get("http://127.0.0.1:9090/api/v1/query",
                              params={"query": query}).json()
            return bool(answer["data"]["result"])
        http.get("http://127.0.0.1:8080/version")  # at least one request to count
        until(metric_queryable, "the backend's metric in Prometheus", 40, interval=0.25)
        doctor = cli("doctor").out
        assert "backend: up in Prometheus" in doctor, doctor
        status = cli("status", "--json").json()
        assert status["telemetry"]["targets"] == ["backend"]
        assert status["telemetry"]["urls"]["prometheus"] == "http://127.0.0.1:9090"
        assert "prometheus http://127.0.0.1:9090" in cli("status").out
        assert cli("open", "prometheus").out.strip() == "http://127.0.0.1:9090"

        # stopped: the file goes and Prometheus drops the target; started again: it is back,
        # without restarting Prometheus
        assert cli("stop", "backend").code == 0
        assert not target_file.exists()
        until(backend_target, "the backend's target dropped", 40,
              ok=lambda health: health is None, interval=0.25)
        assert cli("start", "--wait", "--timeout", "60", "backend").code == 0
        until(backend_target, "the backend's target up again", 40,
              ok=lambda health: health == "up", interval=0.25)
        assert units_by_name(cli)["prometheus"]["restarts"] == 0

        # an edit of the backend's source restarts the backend only, and serves the new code
        app = ws.root / "examples/neotool-mini/backend/src/app.py"
        app.write_text(app.read_text().replace('VERSION = "v1"', 'VERSION = "v2-from-test"'))
        until(lambda: http.get("http://127.0.0.1:8080/version").text, "the new version served",
              30, ok=lambda text: text == "v2-from-test", retry_on=(httpx.HTTPError,),
              interval=0.2)
        after = units_by_name(cli)
        assert after["backend"]["restarts"] == 1
        assert after["router"]["restarts"] == 0 and after["frontend"]["restarts"] == 0

    # the daemon dies hard: its processes are orphans; the next start reaps them (pid + create
    # time) and starts fresh ones, so nothing of the old run survives
    old = _process_records(ws)
    assert set(old) == {"backend", "router", "frontend"}
    cli.kill_daemon()
    assert all(_alive(rec) for rec in old.values())
    again = cli("start", "--wait", "--timeout", "180", *UNITS)
    assert again.code == 0, again.err + again.out
    assert not any(_alive(rec) for rec in old.values())
    status = cli("status", "--json").json()
    assert any("backend: killed process group" in line for line in status["reaped_orphans"])
    new = _process_records(ws)
    assert all(new[u]["pid"] != old[u]["pid"] for u in old)


def _process_records(ws: StackWorkspace) -> dict[str, dict]:
    return json.loads((ws.root / ".neodev" / "pids.json").read_text())


def _alive(record: dict) -> bool:
    try:
        proc = psutil.Process(record["pid"])
        return proc.create_time() == record["create_time"] and \
            proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
