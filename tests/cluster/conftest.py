"""Fixtures of the cluster command-plan tests: a PATH holding only STAND-INS for kind, docker and
kubectl (tests/cluster/standin.py; kind cannot run here), and a hand-built staging plan.

The stand-in records every command line; `kubectl kustomize` goes to the real kubectl.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from neodev.config.model import ClusterSpec, EnvironmentPlan
from neodev.paths import WorkspacePaths

REPO_ROOT = Path(__file__).resolve().parents[2]
STANDIN = Path(__file__).with_name("standin.py")
TOOLS = ("kind", "docker", "kubectl")


@dataclass
class Standin:
    """The stand-in tool directory and its records."""

    bin_dir: Path
    state_dir: Path
    log_file: Path
    monkeypatch: pytest.MonkeyPatch

    def calls(self) -> list[list[str]]:
        """Every recorded command line, as [tool, *args], in order."""
        if not self.log_file.is_file():
            return []
        return [json.loads(line) for line in self.log_file.read_text().splitlines()]

    def clear_log(self) -> None:
        self.log_file.unlink(missing_ok=True)

    def fail_on(self, fragment: str | None) -> None:
        """Make the command line containing `fragment` exit 1 (None: no failure)."""
        if fragment is None:
            self.monkeypatch.delenv("NEODEV_STANDIN_FAIL", raising=False)
        else:
            self.monkeypatch.setenv("NEODEV_STANDIN_FAIL", fragment)

    def remove_tool(self, tool: str) -> None:
        (self.bin_dir / tool).unlink()

    def state(self) -> dict:
        return json.loads((self.state_dir / "state.json").read_text())


@pytest.fixture
def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Standin:
    real_kubectl = shutil.which("kubectl")
    assert real_kubectl, "the real kubectl is needed for renders (it is installed in CI)"
    bin_dir, state_dir = tmp_path / "standin-bin", tmp_path / "standin-state"
    bin_dir.mkdir()
    state_dir.mkdir()
    for tool in TOOLS:
        wrapper = bin_dir / tool
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STANDIN}" {tool} "$@"\n')
        wrapper.chmod(0o755)
    log_file = tmp_path / "standin.log"
    # Only the stand-ins on PATH: a real kind/docker/kubectl can never be reached by mistake.
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("NEODEV_STANDIN_STATE", str(state_dir))
    monkeypatch.setenv("NEODEV_STANDIN_LOG", str(log_file))
    monkeypatch.setenv("NEODEV_STANDIN_REAL_KUBECTL", real_kubectl)
    monkeypatch.delenv("NEODEV_STANDIN_FAIL", raising=False)
    return Standin(bin_dir, state_dir, log_file, monkeypatch)


@pytest.fixture
def workspace(tmp_path: Path) -> WorkspacePaths:
    root = tmp_path / "workspace"
    root.mkdir()
    return WorkspacePaths(root)


@pytest.fixture
def staging_plan(workspace: WorkspacePaths) -> EnvironmentPlan:
    """The staging profile built by hand (the TOML loader is a teammate's; same fields)."""
    spec = ClusterSpec(environment="staging", cluster_name="neodev-staging",
                       overlay=REPO_ROOT / "profiles/k8s/overlays/staging",
                       app_namespace="neotool-staging", workers=2, resource_scale=0.25,
                       rollout_timeout=120)
    return EnvironmentPlan(
        profile="staging", project="neotool", workspace=workspace.root,
        profile_file=workspace.root / "profiles/staging.toml", network="neotool_default",
        cluster=spec,
        variables={"NEOTOOL_ROOT": str(REPO_ROOT / "examples/neotool-mini"),
                   "POSTGRES_USER": "neotool", "POSTGRES_PASSWORD": "pw-from-dotenv",
                   "POSTGRES_DB": "neotool", "JWT_SECRET": "jwt-from-dotenv",
                   "GRAFANA_ADMIN_PASSWORD": "grafana-from-dotenv"})
