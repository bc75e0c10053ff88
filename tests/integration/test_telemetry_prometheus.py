"""neodev's file_sd targets read by a real Prometheus (local test image, shipped compose settings).

A metrics endpoint on the host, listening where neodev tells processes to listen (loopback and
the docker0 gateway), is scraped through `host.docker.internal` once its target file is
written; a second file appears later without a restart; a removed file drops its target; and
a file identical to a static default of compose/prometheus.yml does not make a second target.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from neodev.config.loader import load_plan
from neodev.config.model import EnvironmentPlan, MetricsEndpoint, ProcessSpec
from neodev.telemetry.targets import TargetWriter, target_groups
from tests.constants import REPO_ROOT
from tests.integration.prometheus_helpers import MetricsServer, Prometheus, poll, shipped_prometheus

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
        (target,) = poll(lambda: _up(prometheus, "probe-a"), SCRAPE_WAIT, "probe-a up")
        assert target["labels"] == {"project": "ndtele", "unit": "probe-a", "kind": "process",
                                    "instance": f"host.docker.internal:{first.port}",
                                    "job": "neodev"}
        assert target["scrapeUrl"] == f"http://host.docker.internal:{first.port}/metrics"
        (sample,) = poll(lambda: prometheus.query('neodev_probe_value{unit="probe-a"}'),
                         SCRAPE_WAIT, "probe-a's metric")
        assert sample["value"][1] == "42"
        assert sample["metric"]["project"] == "ndtele" and sample["metric"]["probe"] == "a"

        # a unit starting later: a second file, picked up by the running Prometheus
        writer.sync(target_groups(plan, ["probe-a", "probe-b"]))
        poll(lambda: _up(prometheus, "probe-b"), SCRAPE_WAIT, "probe-b up")
        (sample,) = poll(lambda: prometheus.query('neodev_probe_value{unit="probe-b"}'),
                         SCRAPE_WAIT, "probe-b's metric")
        assert sample["value"][1] == "7"

        # probe-a stops: its file goes, and so does its target
        writer.sync(target_groups(plan, ["probe-b"]))
        poll(lambda: not prometheus.targets_of("probe-a"), SCRAPE_WAIT, "probe-a dropped")
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
    before = prometheus.targets_of("backend")
    assert len(before) == 1 and before[0]["discoveredLabels"]["__address__"] == \
        "host.docker.internal:8080"
    writer.sync(target_groups(plan, ["backend"]))
    try:
        # Prometheus re-reads every file of the directory on each change: once a file written
        # afterwards shows up as a target, backend.json has been read too.
        sentinel_writer.sync(target_groups(sentinel, ["sentinel"]))
        poll(lambda: prometheus.targets_of("sentinel"), SCRAPE_WAIT, "sentinel target")
        assert len(prometheus.targets_of("backend")) == 1
    finally:
        writer.sync([])
        sentinel_writer.sync([])
