"""neodev's file_sd targets and the NeoTool dashboard's PromQL against a real Prometheus.

Prometheus is the local test image run with the shipped compose settings. A metrics endpoint
on the host, listening where neodev tells processes to listen (loopback and the docker0
gateway), is scraped through `host.docker.internal` once its target file is written; a second
file appears later without a restart; a removed file drops its target; a file identical to a
static default of compose/prometheus.yml does not make a second target. The dashboard's PromQL
is parsed by the image's own promtool, and every Prometheus panel returns data for the real
demo backend (examples/neotool-mini) scraped through its written target.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest
import yaml

from neodev.config.loader import load_plan
from neodev.config.model import EnvironmentPlan, MetricsEndpoint, ProcessSpec
from neodev.hostnet import bind_hosts
from neodev.telemetry.targets import TargetWriter, target_groups
from tests import grafana_files
from tests.constants import REPO_ROOT
from tests.integration.prometheus_helpers import (
    MetricsServer,
    Prometheus,
    promtool,
    shipped_prometheus,
)
from tests.ports import free_port_everywhere
from tests.waiting import until

pytestmark = pytest.mark.docker
SCRAPE_WAIT = 60.0
"""Discovery is pushed at most every 5 s, then the first scrape comes within the 5 s interval."""


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # a private parent, as .neodev/ is: only the mounted directory itself must be readable
    parent = tmp_path_factory.mktemp("state")
    parent.chmod(0o700)
    return parent / "prometheus" / "targets"


@pytest.fixture(scope="module")
def prometheus(docker_client: docker.DockerClient, targets: Path) -> Iterator[Prometheus]:
    # created before the container starts, as the daemon must (else Docker creates it as root)
    TargetWriter(targets, []).prepare()
    with shipped_prometheus(docker_client, targets) as running:
        yield running


def _plan(*probes: tuple[str, int]) -> EnvironmentPlan:
    processes = {name: ProcessSpec(name=name, cwd=Path("/"), command=("probe",), port=port,
                                   metrics=MetricsEndpoint(path="/metrics", port=port))
                 for name, port in probes}
    return EnvironmentPlan(profile="t", project="ndtele", workspace=Path("/"),
                           profile_file=Path("/t.toml"), network="ndtele_default",
                           processes=processes)


def _up(prometheus: Prometheus, unit: str) -> list[dict[str, object]]:
    return [t for t in prometheus.targets_of(unit) if t["health"] == "up"]


def test_written_targets_are_scraped_and_follow_units_without_a_restart(
        prometheus: Prometheus, targets: Path) -> None:
    first = MetricsServer('# TYPE neodev_probe_value gauge\nneodev_probe_value{probe="a"} 42\n')
    second = MetricsServer('# TYPE neodev_probe_value gauge\nneodev_probe_value{probe="b"} 7\n')
    try:
        plan = _plan(("probe-a", first.port), ("probe-b", second.port))
        writer = TargetWriter(targets, plan.units)
        started = prometheus.started_at()

        writer.sync(target_groups(plan, ["probe-a"]))
        (target,) = until(lambda: _up(prometheus, "probe-a"), "probe-a up", SCRAPE_WAIT,
                          interval=0.2)
        assert target["labels"] == {"project": "ndtele", "unit": "probe-a", "kind": "process",
                                    "instance": f"host.docker.internal:{first.port}",
                                    "job": "neodev"}
        assert target["scrapeUrl"] == f"http://host.docker.internal:{first.port}/metrics"
        (sample,) = until(lambda: prometheus.query('neodev_probe_value{unit="probe-a"}'),
                          "probe-a's metric", SCRAPE_WAIT, interval=0.2)
        assert sample["value"][1] == "42"
        assert sample["metric"]["project"] == "ndtele" and sample["metric"]["probe"] == "a"

        # a unit starting later: a second file, picked up by the running Prometheus
        writer.sync(target_groups(plan, ["probe-a", "probe-b"]))
        until(lambda: _up(prometheus, "probe-b"), "probe-b up", SCRAPE_WAIT, interval=0.2)
        (sample,) = until(lambda: prometheus.query('neodev_probe_value{unit="probe-b"}'),
                          "probe-b's metric", SCRAPE_WAIT, interval=0.2)
        assert sample["value"][1] == "7"

        # probe-a stops: its file goes, and so does its target
        writer.sync(target_groups(plan, ["probe-b"]))
        until(lambda: not prometheus.targets_of("probe-a"), "probe-a dropped", SCRAPE_WAIT,
              interval=0.2)
        assert _up(prometheus, "probe-b")
        assert prometheus.started_at() == started  # never restarted nor reloaded by hand
    finally:
        first.close()
        second.close()


def test_a_target_equal_to_a_static_default_is_scraped_once(
        prometheus: Prometheus, targets: Path) -> None:
    # The backend of the default project on its usual port is also a static default in
    # compose/prometheus.yml (for plain docker compose): one target, whatever its health.
    plan = load_plan(REPO_ROOT, "local", {"POSTGRES_PASSWORD": "x",
                                          "GRAFANA_ADMIN_PASSWORD": "y"})
    sentinel = _plan(("sentinel", 1))
    writer = TargetWriter(targets, ["backend"])
    sentinel_writer = TargetWriter(targets, ["sentinel"])
    # a freshly started Prometheus lists its static targets a moment after it is ready
    before = until(lambda: prometheus.targets_of("backend"), "static backend", SCRAPE_WAIT,
                   interval=0.2)
    assert len(before) == 1 and before[0]["discoveredLabels"]["__address__"] == \
        "host.docker.internal:8080"
    writer.sync(target_groups(plan, ["backend"]))
    try:
        # Prometheus re-reads every file of the directory on each change: once a file written
        # afterwards shows up as a target, backend.json has been read too.
        sentinel_writer.sync(target_groups(sentinel, ["sentinel"]))
        until(lambda: prometheus.targets_of("sentinel"), "sentinel target", SCRAPE_WAIT,
              interval=0.2)
        assert len(prometheus.targets_of("backend")) == 1
    finally:
        writer.sync([])
        sentinel_writer.sync([])


def _rules(exprs: list[tuple[str, str]]) -> str:
    return yaml.safe_dump({"groups": [{"name": "neotool-dashboard", "rules": [
        {"record": f"neodev:dashboard:{i}", "expr": expr} for i, (_, expr) in enumerate(exprs)
    ]}]})


def test_every_dashboard_promql_expression_parses_with_promtool(
        docker_client: docker.DockerClient, tmp_path: Path) -> None:
    exprs = [(where, grafana_files.substitute(e)) for where, e in
             grafana_files.queries("prometheus")]
    assert len(exprs) >= 5
    (tmp_path / "dashboard.yml").write_text(_rules(exprs))
    # the control: promtool does refuse a broken expression
    (tmp_path / "broken.yml").write_text(_rules([("broken", "sum by (unit) (rate(up[1m])")]))
    code, out = promtool(docker_client, tmp_path, ["check", "rules", "/work/dashboard.yml"])
    assert code == 0, out
    assert f"SUCCESS: {len(exprs)} rules found" in out
    code, out = promtool(docker_client, tmp_path, ["check", "rules", "/work/broken.yml"])
    assert code != 0 and "FAILED" in out, out


def test_demo_backend_metrics_pass_promtool_lint(docker_client: docker.DockerClient,
                                                 tmp_path: Path) -> None:
    (tmp_path / "metrics.txt").write_text(grafana_files.demo_backend_metrics())
    code, out = promtool(docker_client, tmp_path,
                         ["-c", "promtool check metrics < /work/metrics.txt"], entrypoint="sh")
    assert code == 0, out


@pytest.fixture
def demo_backend(tmp_path: Path) -> Iterator[int]:
    """The real demo backend (no database: /health answers 503), on a port free everywhere."""
    port = free_port_everywhere(bind_hosts())
    db_port = free_port_everywhere(["127.0.0.1"])  # no database there: /health fails fast
    env = {**os.environ, "PORT": str(port), "NEODEV_BIND_HOSTS": ",".join(bind_hosts()),
           "DB_HOST": "127.0.0.1", "DB_PORT": str(db_port), "DATABASE_URL": ""}
    proc = subprocess.Popen([sys.executable, "-u", str(grafana_files.DEMO_BACKEND)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        until(lambda: httpx.get(f"http://127.0.0.1:{port}/version", trust_env=False,
                                timeout=1).status_code, "the demo backend", 20,
              ok=lambda status: status == 200, retry_on=(httpx.HTTPError,), interval=0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_every_prometheus_panel_returns_data_for_the_demo_backend(
        prometheus: Prometheus, targets: Path, demo_backend: int) -> None:
    plan = _plan(("demo-backend", demo_backend))
    writer = TargetWriter(targets, plan.units)
    stop = threading.Event()

    def traffic() -> None:  # 200s and 503s (no database), as long as the test runs
        with httpx.Client(base_url=f"http://127.0.0.1:{demo_backend}", trust_env=False,
                          timeout=2) as http:
            while not stop.wait(0.05):
                http.get("/version")
                http.get("/health")
    thread = threading.Thread(target=traffic, daemon=True)
    thread.start()
    writer.sync(target_groups(plan, ["demo-backend"]))
    try:
        until(lambda: _up(prometheus, "demo-backend"), "demo backend up", SCRAPE_WAIT,
              interval=0.2)
        for where, expr in grafana_files.queries("prometheus"):
            query = grafana_files.substitute(expr, interval="30s", value="ndtele|demo-backend")
            # rate() needs two scrapes in its window: poll until the panel has data
            result = until(lambda q=query: prometheus.query(q), where, SCRAPE_WAIT, interval=0.2)
            assert {r["metric"].get("unit") for r in result} == {"demo-backend"}, where
            value = float(result[0]["value"][1])
            assert value > 0, (where, value)  # up = 1, rates, a 5xx share and latencies > 0
    finally:
        stop.set()
        thread.join(timeout=5)
        writer.sync([])
