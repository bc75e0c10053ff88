"""A throwaway workspace for CLI tests: a profile and compose file on the local test images.

Each test gets its own compose project name and free host ports, so tests never collide with
each other or with a developer's running environment. `NeodevCLI` runs the real `neodev`
command (`python -m neodev`) in that workspace as a subprocess.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from tests.constants import TEST_POSTGRES_IMAGE, TEST_PROMETHEUS_IMAGE

CLI_TIMEOUT = 240
CLI_POLL = 0.25
"""Seconds between two looks of a wait whose probe runs the CLI: each look costs a process."""


@dataclass
class StackWorkspace:
    root: Path
    project: str
    ports: dict[str, int]
    extra_services: str = ""
    env: dict[str, str] = field(default_factory=dict)

    def write(self) -> None:
        (self.root / "profiles").mkdir(parents=True, exist_ok=True)
        (self.root / "compose").mkdir(exist_ok=True)
        (self.root / "compose" / "prometheus.yml").write_text(
            "global: {scrape_interval: 5s}\nscrape_configs:\n"
            "  - job_name: self\n    static_configs: [{targets: ['127.0.0.1:9090']}]\n")
        (self.root / "compose" / "stack.yml").write_text(self.compose_text())
        (self.root / "profiles" / "local.toml").write_text(textwrap.dedent(f"""\
            [project]
            name = "{self.project}"
            compose = ["../compose/stack.yml"]
            env_file = "../.env"
            """))
        (self.root / ".env").write_text("POSTGRES_PASSWORD=test-secret-pw\n")

    def compose_text(self) -> str:
        labels = '    labels:\n      dev.neodev.test: "1"\n'
        db = (
            "  db:\n"
            f"    image: ${{NEODEV_POSTGRES_IMAGE:-{TEST_POSTGRES_IMAGE}}}\n"
            "    environment:\n"
            "      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}\n"
            "      POSTGRES_DB: neotool_dev\n"
            f"    ports: [\"127.0.0.1:{self.ports['db']}:5432\"]\n"
            "    volumes: [\"pgdata:/var/lib/postgresql\"]\n"
            "    healthcheck:\n"
            "      test: [\"CMD-SHELL\", \"pg_isready -h 127.0.0.1 -U postgres -d neotool_dev\"]\n"
            "      interval: 1s\n      timeout: 3s\n      retries: 30\n"
        )
        metrics = (
            "  metrics:\n"
            f"    image: {TEST_PROMETHEUS_IMAGE}\n"
            f"    ports: [\"127.0.0.1:{self.ports['metrics']}:9090\"]\n"
            "    volumes: [\"./prometheus.yml:/etc/prometheus/prometheus.yml:ro\"]\n"
            "    depends_on:\n      db: {condition: service_healthy}\n"
            "    healthcheck:\n"
            "      test: [\"CMD\", \"curl\", \"-fsS\", \"http://127.0.0.1:9090/-/ready\"]\n"
            "      interval: 1s\n      timeout: 3s\n      retries: 30\n"
        )
        return ("services:\n" + db + labels + metrics + labels + self.extra_services
                + "volumes:\n  pgdata: {}\n")


BROKEN_SERVICE = (
    "  broken:\n"
    f"    image: {TEST_PROMETHEUS_IMAGE}\n"
    "    healthcheck:\n"
    "      test: [\"CMD\", \"false\"]\n"
    "      interval: 1s\n      timeout: 2s\n      retries: 2\n"
    '    labels:\n      dev.neodev.test: "1"\n'
)

FLAKY_SERVICE = (
    "  flaky:\n"
    f"    image: {TEST_POSTGRES_IMAGE}\n"
    "    entrypoint: [\"sh\", \"-c\", \"echo flaky starting; exit 3\"]\n"
    "    restart: on-failure\n"
    '    labels:\n      dev.neodev.test: "1"\n'
)


def new_workspace(tmp_path: Path, ports: dict[str, int], extra: str = "") -> StackWorkspace:
    ws = StackWorkspace(root=tmp_path / "ws", project=f"ndt{uuid.uuid4().hex[:8]}",
                        ports=ports, extra_services=extra)
    ws.write()
    return ws


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class NeodevCLI:
    """Runs the real `neodev` CLI in a workspace, and cleans up what it started."""

    def __init__(self, workspace: StackWorkspace) -> None:
        self.ws = workspace
        self.env = {**os.environ, "NEODEV_WORKSPACE": str(workspace.root),
                    "NO_COLOR": "1", **workspace.env}
        self.env.pop("NEODEV_POSTGRES_IMAGE", None)

    def __call__(self, *args: str, timeout: float = CLI_TIMEOUT) -> Result:
        proc = subprocess.run([sys.executable, "-m", "neodev", *args], cwd=self.ws.root,
                              env=self.env, capture_output=True, text=True, timeout=timeout)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def daemon_info(self) -> dict[str, Any] | None:
        path = self.ws.root / ".neodev" / "daemon.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def kill_daemon(self) -> None:
        """SIGKILL the daemon (only if it is the process we started: pid + create time)."""
        info = self.daemon_info()
        assert info is not None, "no daemon status file"
        proc = psutil.Process(info["pid"])
        assert proc.create_time() == info["create_time"]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def cleanup(self) -> None:
        """Tear everything down, volumes included; never raises."""
        with contextlib.suppress(Exception):
            self("down", "--volumes", timeout=120)
        info = self.daemon_info()
        if info is not None:
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(info["pid"])
                if proc.create_time() == info["create_time"]:
                    proc.kill()


def docker_time(value: str) -> float:
    """Docker's RFC 3339 nanosecond timestamps as epoch seconds."""
    from datetime import datetime

    head, _, frac = value.rstrip("Z").partition(".")
    return datetime.fromisoformat(head + "+00:00").timestamp() + float("0." + (frac or "0"))


def ready_at(ws: StackWorkspace, unit: str) -> float:
    """When neodev first saw `unit` ready (its start timeline, epoch seconds). For a container
    this can come before Docker's own first healthcheck: neodev runs the test itself first."""
    from neodev.client import DaemonClient, calls
    from neodev.protocol import encode

    with DaemonClient(ws.root / ".neodev" / "daemon.sock") as client:
        timeline = encode(client.call(calls.unit(unit)).timeline)
    return float(min(entry["ts"] for entry in timeline if entry["what"] == "ready"))


