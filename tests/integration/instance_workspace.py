"""Scratch checkouts of one profile, for the tests of instances (several at once).

Each checkout has the same profile (same project name, same declared ports), like worktrees
of one repository: a Postgres service (`db`) and a process (`app`, a small HTTP server told its
port through `@{app:8000}`, with a readiness probe on its declared port, and `@{db:5432}` in
its environment). POSTGRES_PASSWORD is left to neodev to generate, so each checkout has a
secret of its own. The real CLI runs in each (`NeodevCLI`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker

from tests.apps import WEB
from tests.constants import TEST_POSTGRES_IMAGE
from tests.integration.stack_workspace import CLI_TIMEOUT, NeodevCLI, StackWorkspace


@dataclass
class Checkout(StackWorkspace):
    """One checkout of the shared profile (`project` is the profile's project name)."""

    def write(self) -> None:
        (self.root / "profiles").mkdir(parents=True, exist_ok=True)
        (self.root / "compose").mkdir(exist_ok=True)
        (self.root / "app").mkdir(exist_ok=True)
        (self.root / "compose" / "stack.yml").write_text(textwrap.dedent(f"""\
            services:
              db:
                image: {TEST_POSTGRES_IMAGE}
                environment:
                  POSTGRES_PASSWORD: ${{POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}}
                  POSTGRES_DB: neotool_dev
                ports: ["127.0.0.1:{self.ports['db']}:5432"]
                volumes: ["pgdata:/var/lib/postgresql"]
                healthcheck:
                  test: ["CMD-SHELL", "pg_isready -h 127.0.0.1 -U postgres -d neotool_dev"]
                  interval: 1s
                  timeout: 3s
                  retries: 30
                labels:
                  dev.neodev.test: "1"
            volumes:
              pgdata: {{}}
            """))
        (self.root / "profiles" / "local.toml").write_text(textwrap.dedent(f"""\
            [project]
            name = "{self.project}"
            compose = ["../compose/stack.yml"]
            env_file = "../.env"
            secrets = ["POSTGRES_PASSWORD"]

            [processes.app]
            cwd = "../app"
            command = ["{sys.executable}", "{WEB}", "--port", "@{{app:8000}}", "--var", "DB_PORT"]
            port = {self.ports['app']}
            depends_on = {{ db = "healthy" }}
            readiness = {{ http = "http://127.0.0.1:{self.ports['app']}/", interval = 0.2 }}
            env = {{ DB_PORT = "@{{db:5432}}" }}
            """).replace("@{app:8000}", f"@{{app:{self.ports['app']}}}"))
        (self.root / ".env").write_text("# POSTGRES_PASSWORD is generated\n")

    def status(self, cli: NeodevCLI) -> dict[str, Any]:
        result = cli("status", "--json")
        assert result.code == 0, result.err
        data: dict[str, Any] = result.json()
        return data

    def secret(self) -> str:
        for line in (self.root / ".neodev" / "secrets.env").read_text().splitlines():
            if line.startswith("POSTGRES_PASSWORD="):
                return line.partition("=")[2].strip().strip("'\"")
        raise AssertionError("no generated POSTGRES_PASSWORD")


def checkout(root: Path, project: str, ports: dict[str, int]) -> tuple[Checkout, NeodevCLI]:
    ws = Checkout(root=root, project=project, ports=ports)
    ws.write()
    return ws, NeodevCLI(ws)


def start_all(clis: list[NeodevCLI], *args: str) -> list[subprocess.CompletedProcess[str]]:
    """`neodev <args>` in every checkout at the same moment; each one's outcome."""
    running = [subprocess.Popen([sys.executable, "-m", "neodev", *args], cwd=cli.ws.root,
                                env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for cli in clis]
    done = []
    for proc in running:
        out, err = proc.communicate(timeout=CLI_TIMEOUT)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


def psql(client: docker.DockerClient, container: str, sql: str) -> str:
    """SQL in a Postgres container through its own psql (the local socket is trusted)."""
    code, out = client.containers.get(container).exec_run(
        ["psql", "-U", "postgres", "-d", "neotool_dev", "-tAc", sql])
    assert code == 0, out.decode()
    return out.decode().strip()


def instance_of(status: dict[str, Any]) -> dict[str, Any]:
    info: dict[str, Any] = status["instance_info"]
    return info


def host_port(status: dict[str, Any], unit: str) -> int:
    info = instance_of(status)
    return int(next(p["host"] for p in info["ports"] if p["unit"] == unit))


def registry_entries(state_home: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((state_home / "instances").glob("*.json"))]
