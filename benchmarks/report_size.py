"""A report of the demo stack with 5,000 retained lines per unit: its size, the time to write
it, and the time to open it.

Set-up: a copy of the demo workspace (profiles/, compose/, examples/neotool-mini) with a unique
compose project, the local test images and the profile's own ports, started through the real
CLI (`neodev start --wait postgres prometheus backend router frontend`; Grafana and Loki have
no image here and stay pending, with no lines). Then each running unit gets 5,000 lines of
typical application output (~150 characters, mixed levels, a URL with a password now and
then) written into its own output stream — the container's pid 1 and the process' stdout, through
`/proc/<pid>/fd/1` on the host (run it as root) —, so they enter the
daemon the way the units' own lines do (masked, bounded, kept in the unit's ring of 5,000).

Measured, `--runs` times each (median and range):
- write: `neodev report -o FILE` as a subprocess (wall time: CLI start, doctor's checks, every
  request to the daemon, masking, the zip) — the file's size, and its content unpacked;
- open: `ReportClient.open` in this process (unzip + decode every record); the dashboard on it
  headless (`run_test`) until the units table and the log pane are filled; a search over every
  recorded line (`/v1/logs?q=` answered by the viewer); `neodev open-report FILE` in a pipe
  (the text summary, a fresh interpreter).

Usage:
    .venv/bin/python benchmarks/report_size.py [--lines 5000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import benchlib  # noqa: E402,F401 - its own machine registry for the instances run here

from neodev.client import DaemonClient, calls  # noqa: E402
from neodev.paths import WorkspacePaths  # noqa: E402
from neodev.report.viewer import ReportClient  # noqa: E402
from neodev.tui.app import NeodevApp  # noqa: E402
from tests.waiting import until  # noqa: E402

UNITS = ["postgres", "prometheus", "backend", "router", "frontend"]
LINE = ("{ts} {level:<5} [http-nio-8080-exec-{t}] c.n.api.OrderController - GET "
        "/api/orders/{i} 200 {ms}ms user=user{u}@example.com trace={i:016x}")


def neodev(ws: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NEODEV_WORKSPACE": str(ws), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "neodev", *args], cwd=ws, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def workspace(base: Path) -> tuple[Path, str]:
    ws = base / "neotool"
    for name in ("profiles", "compose", "examples"):
        shutil.copytree(ROOT / name, ws / name)
    project = f"ndrep{uuid.uuid4().hex[:8]}"
    profile = ws / "profiles" / "local.toml"
    profile.write_text(profile.read_text().replace('name = "neotool"', f'name = "{project}"'))
    (ws / ".env").write_text((ROOT / ".env.example").read_text()
                             + "NEODEV_POSTGRES_IMAGE=neodev-test/postgres:15\n"
                             + "NEODEV_PROMETHEUS_IMAGE=neodev-test/prometheus:2.42\n"
                             + f"NEODEV_PYTHON={sys.executable}\n")
    return ws, project


def lines(count: int, unit: str) -> str:
    out = []
    for i in range(count):
        level = ("ERROR", "WARN", "INFO", "INFO", "DEBUG")[i % 5]
        text = LINE.format(ts=f"2026-12-06T10:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z",
                           level=level, t=i % 8, i=i, ms=i % 97, u=i % 13)
        if i % 250 == 0:
            text += f" db=postgres://neotool:pw-{unit}-{i}@127.0.0.1:5432/neotool_dev"
        out.append(text)
    return "\n".join(out) + "\n"


def fill(ws: Path, project: str, count: int) -> None:
    """`count` lines into each unit's own output stream."""
    client = docker.from_env()
    for unit in ("postgres", "prometheus"):
        [container] = client.containers.list(filters={"label": [
            f"com.docker.compose.project={project}", f"com.docker.compose.service={unit}"]})
        # Into the output stream of the container's pid 1, from the host (as root here):
        # Docker reads it as the container's own output.
        with open(f"/proc/{container.attrs['State']['Pid']}/fd/1", "w") as out:
            out.write(lines(count, unit))
    pids = json.loads((ws / ".neodev" / "pids.json").read_text())
    for unit in ("backend", "router", "frontend"):
        with open(f"/proc/{pids[unit]['pid']}/fd/1", "w") as out:
            out.write(lines(count, unit))
    with DaemonClient(ws / ".neodev" / "daemon.sock") as api:
        until(lambda: {u: len(api.call(calls.logs([u], limit=count)).lines) for u in UNITS},
              f"the daemon to retain {count} lines per unit", 120,
              ok=lambda kept: all(n >= count for n in kept.values()), interval=0.5)


async def open_in_dashboard(file: Path, ws: Path) -> tuple[float, float, float]:
    """Seconds to read the report, to a filled dashboard, and for a search of every line."""
    started = time.perf_counter()
    viewer = ReportClient.open(file)
    read = time.perf_counter() - started
    app = NeodevApp(WorkspacePaths(ws), "local", client=viewer, report=viewer.title)
    async with app.run_test(size=(160, 48)) as pilot:
        while not (len(app.view.units) >= len(UNITS) and app.logview.records):
            await pilot.pause(0.005)
        shown = time.perf_counter() - started
    searched = time.perf_counter()
    page = await viewer.call(calls.logs(q="orders/4999 ", limit=1000))
    assert len(page.lines) == len(UNITS), page
    return read, shown, time.perf_counter() - searched


def summary(values: list[float]) -> str:
    return (f"median {statistics.median(values):.2f}s (min {min(values):.2f}, "
            f"max {max(values):.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="neodev-report-bench-") as base:
        ws, project = workspace(Path(base))
        try:
            started = neodev(ws, "start", "--wait", "--timeout", "180", *UNITS)
            assert started.returncode == 0, started.stdout + started.stderr
            fill(ws, project, args.lines)
            writes, files = [], []
            for run in range(args.runs):
                file = ws / f"report-{run}.zip"
                began = time.perf_counter()
                written = neodev(ws, "report", "-o", str(file))
                writes.append(time.perf_counter() - began)
                assert written.returncode == 0, written.stdout + written.stderr
                files.append(file)
            file = files[-1]
            size = file.stat().st_size
            with zipfile.ZipFile(file) as archive:
                unpacked = sum(i.file_size for i in archive.infolist())
                members = len(archive.infolist())
                line_counts = {u: len(archive.read(f"logs/{u}.ndjson").splitlines())
                               for u in UNITS}
            opens = [asyncio.run(open_in_dashboard(f, ws)) for f in files]
            texts = []
            for f in files:
                began = time.perf_counter()
                shown = neodev(ws, "open-report", str(f))
                texts.append(time.perf_counter() - began)
                assert shown.returncode == 0, shown.stderr
        finally:
            neodev(ws, "down", "--volumes", timeout=180)
    print(f"demo stack, {args.lines} retained lines per running unit "
          f"({', '.join(f'{u} {n}' for u, n in line_counts.items())} lines in the report)")
    print(f"report file: {size / 1024 / 1024:.2f} MiB zip, "
          f"{unpacked / 1024 / 1024:.2f} MiB unpacked, {members} parts")
    print(f"write (`neodev report -o FILE`, subprocess): {summary(writes)}")
    print(f"open, read + decode (ReportClient.open): {summary([o[0] for o in opens])}")
    print(f"open, to a filled dashboard (headless): {summary([o[1] for o in opens])}")
    print(f"search of every recorded line: {summary([o[2] for o in opens])}")
    print(f"`neodev open-report FILE` in a pipe (text): {summary(texts)}")


if __name__ == "__main__":
    main()
