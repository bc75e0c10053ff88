"""Cluster operations through the daemon: progress on the event stream, last report kept.

kind cannot run here: the `standin` fixture (tests/cluster/conftest.py) puts recording
STAND-INS for kind, docker and kubectl on PATH; renders go through the real kubectl.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from neodev.daemon.cluster_ops import ClusterOperations
from neodev.engine.events import EventBus, ProgressEvent
from neodev.paths import WorkspacePaths

REPO_ROOT = Path(__file__).resolve().parents[2]
STAGING = str(REPO_ROOT / "profiles/staging.toml")


@pytest.fixture
def operations(standin, workspace: WorkspacePaths, monkeypatch: pytest.MonkeyPatch
               ) -> tuple[ClusterOperations, EventBus]:
    monkeypatch.setenv("NEOTOOL_ROOT", str(REPO_ROOT / "examples/neotool-mini"))
    workspace.ensure_state_dir()
    bus = EventBus()
    return ClusterOperations(workspace, bus), bus


async def test_up_streams_progress_events_and_keeps_the_report(operations) -> None:
    ops, bus = operations
    sub = bus.subscribe()
    items = [item async for item in ops.run("up", STAGING)]
    assert items[-1]["type"] == "report"
    report = items[-1]["report"]
    assert report["cluster_name"] == "neodev-staging" and report["exists"]
    progress = [i for i in items if i["type"] == "progress"]
    finished = {i["step"]: i for i in progress if i["outcome"] != "running"}
    assert {"check-tools", "render", "cluster-create", "apply"} <= set(finished)
    assert all(i["duration"] is not None for i in finished.values())
    published = []
    while not sub.queue.empty():
        published.append(sub.queue.get_nowait())
    assert all(isinstance(e, ProgressEvent) and e.unit == f"cluster:{STAGING}"
               for e in published)
    assert len(published) == len(progress)
    assert ops.reports[STAGING]["cluster_name"] == "neodev-staging"

    down = [item async for item in ops.run("down", STAGING)]
    assert down[-1]["type"] == "report" and down[-1]["report"]["exists"] is False
    assert STAGING not in ops.reports


async def test_a_failed_step_comes_back_as_an_error_item(operations, standin) -> None:
    ops, _ = operations
    standin.remove_tool("kind")
    items = [item async for item in ops.run("up", STAGING)]
    assert items[-1]["type"] == "error"
    assert items[-1]["error"]["type"] == "ClusterError"
    assert "kind" in items[-1]["error"]["message"]
    assert not any(line[:2] == ["kind", "create"] for line in standin.calls())


async def test_unknown_action_is_a_config_error(operations) -> None:
    from neodev.errors import ConfigError

    ops, _ = operations
    with pytest.raises(ConfigError, match="valid: up, status, down"):
        [item async for item in ops.run("explode", STAGING)]
