"""`neodev cluster up|status|down` through the real CLI (a subprocess).

kind cannot run here: the `standin` fixture puts recording STAND-INS for kind, docker and
kubectl first on PATH (renders still go through the real kubectl).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from neodev.paths import WorkspacePaths

REPO_ROOT = Path(__file__).resolve().parents[2]
STAGING = str(REPO_ROOT / "profiles/staging.toml")


def neodev(workspace: WorkspacePaths, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NEODEV_WORKSPACE": str(workspace.root),
           "NEOTOOL_ROOT": str(REPO_ROOT / "examples/neotool-mini")}
    return subprocess.run([sys.executable, "-m", "neodev", *args], env=env, text=True,
                          capture_output=True, timeout=120, cwd=workspace.root)


def test_cluster_up_prints_steps_with_durations_then_the_report(standin, workspace) -> None:
    result = neodev(workspace, "cluster", "up", "--profile", STAGING)
    assert result.returncode in (0, 7), result.stderr
    steps = [line for line in result.stderr.splitlines() if line.startswith("ok")]
    assert any(line.startswith("ok      render (") for line in steps), result.stderr
    assert any("cluster-create (" in line for line in steps)
    assert result.stdout.startswith("cluster neodev-staging (kind-neodev-staging)")
    assert any(call[:3] == ["kind", "create", "cluster"] for call in standin.calls())

    again = neodev(workspace, "cluster", "up", "--profile", STAGING, "--json")
    report = json.loads(again.stdout)
    assert report["exists"] is True and report["cluster_name"] == "neodev-staging"
    assert "skipped cluster-create" in again.stderr  # reconciled, not recreated

    down = neodev(workspace, "cluster", "down", "--profile", STAGING)
    assert down.returncode == 0, down.stderr
    assert "not running" in down.stdout and "registry" in down.stdout


def test_missing_kind_is_exit_5_with_an_install_hint_and_no_change(standin, workspace) -> None:
    standin.remove_tool("kind")
    result = neodev(workspace, "cluster", "up", "--profile", STAGING)
    assert result.returncode == 5
    assert "kind not found on PATH" in result.stderr and "install kind" in result.stderr
    assert not any(call[0] == "kubectl" and "apply" in call for call in standin.calls())
    assert not any(call[:2] == ["docker", "run"] for call in standin.calls())
