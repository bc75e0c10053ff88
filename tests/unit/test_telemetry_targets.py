"""Prometheus file_sd targets: the pure target groups, the mounted directory, the file writer."""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from neodev.config.loader import load_plan
from neodev.config.model import EnvironmentPlan, MetricsEndpoint
from neodev.telemetry.targets import (
    TARGET_DIR_MODE,
    TARGETS_MOUNT,
    TargetGroup,
    TargetWriter,
    target_groups,
    targets_dir,
)
from tests.constants import REPO_ROOT

ENVIRON = {"POSTGRES_PASSWORD": "p", "GRAFANA_ADMIN_PASSWORD": "g",
           "NEOTOOL_ROOT": "./examples/neotool-mini"}


@pytest.fixture(scope="module")
def plan() -> EnvironmentPlan:
    return load_plan(REPO_ROOT, "local", ENVIRON)


def _with_container_metrics(plan: EnvironmentPlan) -> EnvironmentPlan:
    loki = plan.containers["loki"].model_copy(
        update={"metrics": MetricsEndpoint(path="/metrics", port=3100)})
    return plan.model_copy(update={"containers": {**plan.containers, "loki": loki}})


def test_only_running_units_with_metrics_get_a_group(plan: EnvironmentPlan) -> None:
    assert target_groups(plan, []) == []
    groups = target_groups(plan, ["postgres", "backend", "router", "frontend"])
    assert groups == [{"targets": ["host.docker.internal:8080"],
                       "labels": {"project": "neotool", "unit": "backend", "kind": "process",
                                  "__metrics_path__": "/metrics"}}]


def test_containers_are_scraped_by_service_name_and_container_port(
        plan: EnvironmentPlan) -> None:
    plan = _with_container_metrics(plan)
    groups = target_groups(plan, ["backend", "loki"])
    # plan order: containers first; loki's port 3100 is the container port, not the host one
    assert [g["targets"] for g in groups] == [["loki:3100"], ["host.docker.internal:8080"]]
    assert groups[0]["labels"] == {"project": "neotool", "unit": "loki", "kind": "container",
                                   "__metrics_path__": "/metrics"}


def test_an_unknown_running_unit_is_a_bug_not_a_silent_skip(plan: EnvironmentPlan) -> None:
    with pytest.raises(ValueError, match="not units of this plan: backnd"):
        target_groups(plan, ["backnd"])


def test_the_directory_neodev_writes_is_the_one_compose_mounts(tmp_path: Path) -> None:
    # A copy of the workspace elsewhere: the mount follows the workspace, not this checkout.
    root = tmp_path / "ws"
    for name in ("profiles", "compose", "examples"):
        shutil.copytree(REPO_ROOT / name, root / name, ignore=shutil.ignore_patterns("k8s"))
    plan = load_plan(root, "local", ENVIRON)
    # compose/../.neodev/prometheus/targets: the workspace's own state directory
    assert targets_dir(plan) == root / ".neodev" / "prometheus" / "targets"


def test_no_targets_directory_without_a_mount(plan: EnvironmentPlan) -> None:
    prometheus = plan.containers["prometheus"]
    unmounted = prometheus.model_copy(update={"volumes": tuple(
        v for v in prometheus.volumes if v.target != TARGETS_MOUNT)})
    assert targets_dir(plan.model_copy(update={"containers": {"prometheus": unmounted}})) is None


def test_static_defaults_carry_the_labels_neodev_writes_so_prometheus_dedupes(
        plan: EnvironmentPlan) -> None:
    # compose/prometheus.yml keeps static targets for plain `docker compose` users in the same
    # job as file_sd; they are scraped once only if their labels equal what neodev writes.
    config = yaml.safe_load((REPO_ROOT / "compose" / "prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if "file_sd_configs" in j)
    assert job["file_sd_configs"][0]["files"] == [f"{TARGETS_MOUNT}/*.json"]
    static = {s["targets"][0]: s["labels"] for s in job["static_configs"]}
    (group,) = target_groups(plan, ["backend"])
    labels = dict(group["labels"])
    assert labels.pop("__metrics_path__") == job["metrics_path"]
    assert static[group["targets"][0]] == labels


@pytest.fixture
def private_umask() -> Iterator[None]:
    old = os.umask(0o077)  # the strictest umask a developer may have
    yield
    os.umask(old)


def _group(unit: str, port: int, path: str = "/metrics") -> TargetGroup:
    return {"targets": [f"host.docker.internal:{port}"],
            "labels": {"project": "p", "unit": unit, "kind": "process",
                       "__metrics_path__": path}}


def test_writer_makes_files_prometheus_can_read_under_a_private_state_dir(
        tmp_path: Path, private_umask: None) -> None:
    state = tmp_path / ".neodev"
    state.mkdir(mode=0o700)
    writer = TargetWriter(state / "prometheus" / "targets", ["api", "worker"])
    report = writer.sync([_group("api", 8080)])
    assert report.written == ("api",) and report.removed == ()
    path = writer.directory / "api.json"
    assert json.loads(path.read_text()) == [_group("api", 8080)]
    # another uid (nobody in the Prometheus image) reads the file through the mounted directory
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE(writer.directory.stat().st_mode) == TARGET_DIR_MODE
    assert stat.S_IMODE(state.stat().st_mode) == 0o700  # the state dir stays private
    assert [p.name for p in writer.directory.iterdir()] == ["api.json"]  # no temp file left


def test_writer_rewrites_only_what_changed_and_replaces_by_rename(tmp_path: Path) -> None:
    writer = TargetWriter(tmp_path / "targets", ["api", "worker"])
    writer.sync([_group("api", 8080), _group("worker", 9100)])
    api, worker = writer.path("api"), writer.path("worker")
    inodes = (api.stat().st_ino, worker.stat().st_ino)
    again = writer.sync([_group("api", 8080), _group("worker", 9100)])
    assert again.written == () and again.removed == ()
    assert (api.stat().st_ino, worker.stat().st_ino) == inodes
    changed = writer.sync([_group("api", 8080), _group("worker", 9100, "/stats")])
    assert changed.written == ("worker",)
    # a new inode: why the compose file mounts the directory, not the file
    assert worker.stat().st_ino != inodes[1] and api.stat().st_ino == inodes[0]
    assert json.loads(worker.read_text())[0]["labels"]["__metrics_path__"] == "/stats"


def test_writer_removes_stopped_units_and_leaves_foreign_files(tmp_path: Path) -> None:
    writer = TargetWriter(tmp_path / "targets", ["api", "worker"])
    writer.sync([_group("api", 8080), _group("worker", 9100)])
    foreign = writer.directory / "by-hand.json"
    foreign.write_text("[]")
    report = writer.sync([_group("worker", 9100)])
    assert report.removed == ("api",) and report.written == ()
    assert sorted(p.name for p in writer.directory.iterdir()) == ["by-hand.json", "worker.json"]
    assert writer.remove("worker") is True
    assert writer.remove("worker") is False
    assert writer.sync([]).removed == ()


def test_writer_refuses_groups_of_units_it_does_not_own(tmp_path: Path) -> None:
    writer = TargetWriter(tmp_path / "targets", ["api"])
    with pytest.raises(ValueError, match="'other': not a unit of this writer"):
        writer.sync([_group("other", 1)])
    with pytest.raises(ValueError, match="cannot name a target file"):
        TargetWriter(tmp_path / "targets", ["../escape"])
    assert not (tmp_path / "targets" / "api.json").exists()


def test_sync_of_the_plan_round_trip(plan: EnvironmentPlan, tmp_path: Path) -> None:
    writer = TargetWriter(tmp_path / "targets", plan.units)
    writer.sync(target_groups(plan, ["postgres", "backend"]))
    assert [p.name for p in writer.directory.iterdir()] == ["backend.json"]
    writer.sync(target_groups(plan, ["postgres"]))  # the backend stopped
    assert list(writer.directory.iterdir()) == []
