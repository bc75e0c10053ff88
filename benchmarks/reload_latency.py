"""Hot-reload latency of neodev's process driver, against the app's own cold start and watchfiles.

Measures, on a copy of the example backend (examples/neotool-mini/backend, stdlib HTTP server):

1. cold start: spawn `python src/app.py` -> first answer on /version (the app's own cost);
2. neodev reload: edit `VERSION` in src/app.py -> /version answers the new value, through
   FileWatcher -> Engine.reload -> ProcessRunner (what the daemon runs);
3. baseline: the same edit with the `watchfiles` CLI (`watchfiles '<python> src/app.py' src`).

The daemon's idle cost over a 50,000-file tree is measured on the real daemon by
benchmarks/daemon_idle.py.

Prints min / median / p90 of each series, neodev's overhead (reload median minus cold start
median) and the ratio neodev / watchfiles.

Usage: .venv/bin/python benchmarks/reload_latency.py [--runs 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from neodev.config.model import Probe, ProcessSpec
from neodev.engine.engine import Engine
from neodev.process.pids import PidRegistry
from neodev.process.runner import ProcessRunner
from neodev.process.watcher import FileWatcher

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "neotool-mini"
BIND = {"NEODEV_BIND_HOSTS": "127.0.0.1", "HOST": "127.0.0.1"}
POLL = 0.005
TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def summary(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p90 = ms[min(len(ms) - 1, round(0.9 * (len(ms) - 1)))]
    return f"min {ms[0]:7.1f}  median {statistics.median(ms):7.1f}  p90 {p90:7.1f} ms"


async def wait_answer(client: httpx.AsyncClient, url: str, want: str) -> float:
    """Poll until `url` answers `want`; returns the time.monotonic() of that answer."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            if (await client.get(url)).text == want:
                return time.monotonic()
        except httpx.HTTPError:
            pass
        await asyncio.sleep(POLL)
    raise RuntimeError(f"{url} did not answer {want!r} within {TIMEOUT}s")


def set_version(app: Path, version: str) -> None:
    text = app.read_text()
    start = text.index('VERSION = "') + len('VERSION = "')
    app.write_text(text[:start] + version + text[text.index('"', start):])


def backend_spec(backend: Path, port: int) -> ProcessSpec:
    return ProcessSpec(
        name="backend", cwd=backend, command=(sys.executable, "-u", "src/app.py"),
        env={"PORT": str(port)}, watch=("src/**",), debounce_ms=300, stop_grace=5.0,
        readiness=Probe(kind="http", url=f"http://127.0.0.1:{port}/version", interval=0.05,
                        start_period=30.0))


async def cold_start(backend: Path, runs: int, state: Path) -> list[float]:
    port = free_port()
    runner = ProcessRunner(backend_spec(backend, port), lambda *a: None,
                           PidRegistry(state / "pids.json"), bind=BIND)
    times = []
    async with httpx.AsyncClient(trust_env=False, timeout=2) as client:
        for _ in range(runs):
            started = time.monotonic()
            await runner.start()
            times.append(await wait_answer(client, f"http://127.0.0.1:{port}/version", "v1")
                         - started)
            await runner.stop(5.0)
    return times


async def neodev_reload(backend: Path, runs: int, state: Path) -> list[float]:
    port = free_port()
    spec = backend_spec(backend, port)
    runner = ProcessRunner(spec, lambda *a: None, PidRegistry(state / "pids.json"), bind=BIND)
    tasks: set[asyncio.Task[None]] = set()
    engine = Engine({"backend": spec}, {"backend": runner})
    await engine.start()
    await engine.wait_ready(["backend"], TIMEOUT)

    def on_change(files: list[str]) -> None:
        task = asyncio.create_task(engine.reload("backend", files))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    watcher = FileWatcher(spec, on_change)
    watcher.start()
    await asyncio.sleep(0.5)
    times = []
    app = backend / "src" / "app.py"
    try:
        async with httpx.AsyncClient(trust_env=False, timeout=2) as client:
            url = f"http://127.0.0.1:{port}/version"
            await wait_answer(client, url, "v1")
            for i in range(runs):
                started = time.monotonic()
                set_version(app, f"n{i}")
                times.append(await wait_answer(client, url, f"n{i}") - started)
                await asyncio.sleep(0.3)  # let the engine finish its readiness bookkeeping
    finally:
        await watcher.stop()
        await engine.stop()
        set_version(app, "v1")
    return times


async def watchfiles_reload(backend: Path, runs: int) -> list[float]:
    port = free_port()
    cli = Path(sys.executable).with_name("watchfiles")
    proc = subprocess.Popen(
        [str(cli), f"{sys.executable} -u src/app.py", "src"], cwd=backend,
        env=os.environ | BIND | {"PORT": str(port)}, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    times = []
    app = backend / "src" / "app.py"
    try:
        async with httpx.AsyncClient(trust_env=False, timeout=2) as client:
            url = f"http://127.0.0.1:{port}/version"
            await wait_answer(client, url, "v1")
            await asyncio.sleep(0.5)
            for i in range(runs):
                started = time.monotonic()
                set_version(app, f"w{i}")
                times.append(await wait_answer(client, url, f"w{i}") - started)
                await asyncio.sleep(0.3)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        set_version(app, "v1")
    return times


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="neodev-bench-") as tmp:
        ws, state = Path(tmp) / "neotool-mini", Path(tmp) / "state"
        shutil.copytree(EXAMPLE, ws)
        backend = ws / "backend"
        print(f"reload latency, {args.runs} runs each (python {sys.version.split()[0]}, "
              f"{os.cpu_count()} CPUs)")
        cold = await cold_start(backend, args.runs, state)
        print(f"  cold start (spawn -> first answer):   {summary(cold)}")
        reload = await neodev_reload(backend, args.runs, state)
        print(f"  neodev reload (edit -> new answer):   {summary(reload)}   "
              "[FileWatcher -> Engine.reload -> ProcessRunner]")
        base = await watchfiles_reload(backend, args.runs)
        print(f"  watchfiles CLI reload (baseline):     {summary(base)}")
        median = statistics.median
        print(f"  neodev overhead (reload - cold start, medians): "
              f"{(median(reload) - median(cold)) * 1000:.1f} ms; ratio to watchfiles "
              f"(medians): {median(reload) / median(base):.2f}")


if __name__ == "__main__":
    asyncio.run(main())
