"""Cluster operations as daemon jobs: progress as job events, the report kept.

kind cannot run here: the `standin` fixture (tests/cluster/conftest.py) puts recording
STAND-INS for kind, docker and kubectl on PATH; renders go through the real kubectl.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from neodev.daemon.jobs import Jobs
from neodev.engine.events import EventBus
from neodev.errors import ConfigError, RequestError
from neodev.paths import WorkspacePaths
from neodev.protocol import JobChanged, JobRecord

REPO_ROOT = Path(__file__).resolve().parents[2]
STAGING = str(REPO_ROOT / "profiles/staging.toml")


@pytest.fixture
def jobs(standin, workspace: WorkspacePaths, monkeypatch: pytest.MonkeyPatch
         ) -> tuple[Jobs, EventBus]:
    monkeypatch.setenv("NEOTOOL_ROOT", str(REPO_ROOT / "examples/neotool-mini"))
    workspace.ensure_state_dir()
    bus = EventBus("test")
    return Jobs(workspace, bus, wall=lambda: 0.0), bus


async def run_to_end(jobs: Jobs, action: str) -> list[JobRecord]:
    job = jobs.submit_cluster(action, STAGING)
    return [record async for record in jobs.follow(job.id)]


async def test_up_publishes_progress_as_job_events_and_keeps_the_report(jobs) -> None:
    manager, bus = jobs
    sub = bus.subscribe()
    records = await run_to_end(manager, "up")
    final = records[-1]
    assert final.state == "succeeded", final.error
    assert final.report is not None and final.report.cluster_name == "neodev-staging"
    finished = {s.step: s for s in final.steps if s.outcome != "running"}
    assert {"check-tools", "render", "cluster-create", "apply"} <= set(finished)
    assert all(s.duration is not None for s in finished.values())
    published = []
    while sub.pending():
        published.append(await sub.next())
    assert published and all(isinstance(e, JobChanged) for e in published)
    assert published[-1].job == final  # the whole record travels with every event
    assert manager.reports[STAGING].cluster_name == "neodev-staging"

    down = await run_to_end(manager, "down")
    report = down[-1].report
    assert down[-1].state == "succeeded" and report is not None and report.exists is False
    assert STAGING not in manager.reports


async def test_a_failed_step_ends_the_job_with_the_error(jobs, standin) -> None:
    manager, _ = jobs
    standin.remove_tool("kind")
    final = (await run_to_end(manager, "up"))[-1]
    assert final.state == "failed" and final.error is not None
    assert final.error["type"] == "ClusterError"
    assert "kind" in final.error["message"]
    assert not any(line[:2] == ["kind", "create"] for line in standin.calls())


def test_unknown_action_and_profile_are_refused_before_anything_runs(jobs) -> None:
    manager, _ = jobs
    with pytest.raises(RequestError, match="valid: up, status, down"):
        manager.submit_cluster("explode", STAGING)
    with pytest.raises(ConfigError, match="unknown profile"):
        manager.submit_cluster("up", "nosuchprofile")
    assert manager.list() == []
