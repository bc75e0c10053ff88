"""The README's first line, run as a new user would: a fresh copy of the checkout, a fresh
virtualenv, the README's own command — and the demo comes up healthy (exit 0).

The registry is not reachable here, so the environment points the two images that exist
locally at the test images (as the README says to); Grafana and Loki, which cannot be had, are
optional in the local profile. The compose project gets a unique name (COMPOSE_PROJECT_NAME,
which neodev honours as compose does), so the test never touches a developer's environment;
the ports are the profile's own.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import docker
import pytest

from tests.constants import PROFILE_PORTS, REPO_ROOT, TEST_POSTGRES_IMAGE, TEST_PROMETHEUS_IMAGE

pytestmark = [pytest.mark.docker, pytest.mark.xdist_group(PROFILE_PORTS)]
INSTALL_TIMEOUT = 900


def readme_first_line() -> str:
    text = (REPO_ROOT / "README.md").read_text()
    block = re.search(r"## Quick start\n+```sh\n(.+?)\n", text)
    assert block, "the README has no quick start block"
    return block.group(1)


def fresh_copy(target: Path) -> None:
    """The tracked files of the checkout, as a fresh clone has them (no .venv, no .neodev)."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        source = REPO_ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def test_the_readme_first_line_brings_the_demo_up_healthy(
        tmp_path: Path, docker_client: docker.DockerClient) -> None:
    line = readme_first_line()
    assert "pip install" in line and "neodev start --wait" in line
    checkout = tmp_path / "neodev"
    fresh_copy(checkout)
    project = f"ndq{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NEODEV_", "VIRTUAL_ENV", "PYTHON")) or k == "NEODEV_STATE_HOME"}
    env.update(NEODEV_POSTGRES_IMAGE=TEST_POSTGRES_IMAGE,
               NEODEV_PROMETHEUS_IMAGE=TEST_PROMETHEUS_IMAGE,
               COMPOSE_PROJECT_NAME=project, PIP_DISABLE_PIP_VERSION_CHECK="1")
    try:
        run = subprocess.run(["bash", "-c", line], cwd=checkout, env=env, capture_output=True,
                             text=True, timeout=INSTALL_TIMEOUT, check=False)
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
        assert "ok   backend" in run.stdout, run.stdout
        assert "skip grafana" in run.stdout and "skip loki" in run.stdout
        assert (checkout / ".env").is_file()  # cp -n made it
    finally:
        neodev = checkout / ".venv" / "bin" / "neodev"
        if neodev.exists():
            subprocess.run([str(neodev), "down", "--volumes"], cwd=checkout, env=env,
                           capture_output=True, timeout=180, check=False)
        for c in docker_client.containers.list(
                all=True, filters={"label": f"com.docker.compose.project={project}"}):
            c.remove(force=True, v=True)
