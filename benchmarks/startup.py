"""Startup benchmark: `neodev start --wait` against the stack's own critical path.

Measured in one run, on the local test images (PostgreSQL 15 + Prometheus 2.42; Prometheus
waits for Postgres to be healthy, as in the NeoTool stack where Grafana waits for its sources):

- cold: containers and volumes absent -> all healthy (wall time of the CLI command);
- warm: everything already running -> must be a no-op (containers not restarted);
- critical path: what the stack itself needs — for each dependency chain, the sum over its
  units of (container start -> first passing healthcheck), read from Docker's own records;
  the ratio cold / critical path is the figure (1.0 = neodev adds nothing);
- `neodev status --json` round trip: the whole CLI command, and one API call over the socket,
  beside `docker ps` for the same containers as the baseline.

Run: `.venv/bin/python benchmarks/startup.py [--runs N]` (needs the engine and test images:
`bash tests/run.sh` prepares both).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from neodev.daemon.client import DaemonClient  # noqa: E402
from tests.integration.stack_workspace import (  # noqa: E402
    NeodevCLI,
    docker_time,
    new_workspace,
)


def free_ports(count: int) -> list[int]:
    held = [socket.socket() for _ in range(count)]
    try:
        for s in held:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def own_time_to_healthy(container: docker.models.containers.Container) -> float:
    container.reload()
    started = docker_time(container.attrs["State"]["StartedAt"])
    healthy = min(docker_time(e["End"]) for e in container.attrs["State"]["Health"]["Log"]
                  if e["ExitCode"] == 0)
    return healthy - started


def timeline(began: float, ended: float, chain: list) -> dict[str, float]:  # type: ignore[type-arg]
    """Where a cold start's time goes, from Docker's own timestamps (seconds)."""
    db, metrics = chain
    db_started = docker_time(db.attrs["State"]["StartedAt"])
    db_healthy = db_started + own_time_to_healthy(db)
    metrics_started = docker_time(metrics.attrs["State"]["StartedAt"])
    metrics_healthy = metrics_started + own_time_to_healthy(metrics)
    return {"cli+daemon up -> db started": db_started - began,
            "db healthy -> metrics started": metrics_started - db_healthy,
            "metrics healthy -> CLI returns": ended - metrics_healthy}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="cold starts to measure")
    args = parser.parse_args()
    client = docker.from_env()
    with tempfile.TemporaryDirectory(prefix="neodev-bench-") as tmp:
        db, metrics = free_ports(2)
        ws = new_workspace(Path(tmp), {"db": db, "metrics": metrics})
        cli = NeodevCLI(ws)
        cold, critical, warm = [], [], []
        timelines: list[dict[str, float]] = []
        try:
            for _ in range(args.runs):
                cli("down", "--volumes")
                began = time.time()
                cold.append(timed(lambda: _check(cli("start", "--wait", "--timeout", "300"))))
                ended = time.time()
                chain = [client.containers.get(f"{ws.project}-{s}-1") for s in ("db", "metrics")]
                critical.append(sum(own_time_to_healthy(c) for c in chain))
                timelines.append(timeline(began, ended, chain))
                before = [c.attrs["State"]["StartedAt"] for c in chain]
                warm.append(timed(lambda: _check(cli("start", "--wait", "--timeout", "60"))))
                after = [client.containers.get(c.id).attrs["State"]["StartedAt"] for c in chain]
                assert before == after, "warm start restarted a container"
            status_cli = [timed(lambda: _check(cli("status", "--json"))) for _ in range(10)]
            info = cli.daemon_info()
            assert info is not None
            with DaemonClient(Path(info["socket"])) as api:
                status_api = [timed(api.status) for _ in range(200)]
            docker_ps = [timed(lambda: subprocess.run(
                ["docker", "ps", "--filter", f"label=com.docker.compose.project={ws.project}"],
                capture_output=True, check=True)) for _ in range(10)]
        finally:
            cli.cleanup()
    med = statistics.median
    print(f"stack: postgres 15 -> prometheus 2.42 (depends_on healthy), {args.runs} cold runs")
    print(f"cold start --wait      median {med(cold):6.2f} s   (runs: "
          f"{', '.join(f'{c:.2f}' for c in cold)})")
    print(f"critical path (own)    median {med(critical):6.2f} s   "
          "(container start -> healthy, summed along the chain)")
    print(f"cold / critical path   {med(cold) / med(critical):6.2f}x")
    for key in timelines[0]:
        print(f"  overhead: {key:<32} median {med([t[key] for t in timelines]):5.2f} s")
    print(f"warm start --wait      median {med(warm):6.2f} s   (no container restarted)")
    print(f"warm / cold            {med(warm) / med(cold):6.2f}x")
    print(f"status --json (CLI)    median {med(status_cli) * 1000:6.0f} ms  vs docker ps "
          f"{med(docker_ps) * 1000:.0f} ms -> {med(status_cli) / med(docker_ps):.2f}x")
    print(f"status API call        median {med(status_api) * 1000:6.2f} ms  "
          f"(p90 {sorted(status_api)[int(len(status_api) * 0.9)] * 1000:.2f} ms)")
    return 0


def _check(result) -> None:  # type: ignore[no-untyped-def]
    if result.code != 0:
        raise SystemExit(f"neodev failed ({result.code}): {result.err}{result.out}")


if __name__ == "__main__":
    sys.exit(main())
