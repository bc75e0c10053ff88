"""Hot-reload latency of neodev's process driver, against the app's own cold start and watchfiles.

Measures, on a copy of the example backend (examples/neotool-mini/backend, stdlib HTTP server):

1. cold start: spawn `python src/app.py` -> first answer on /version (the app's own cost);
2. neodev reload: edit `VERSION` in src/app.py -> /version answers the new value, through
   FileWatcher + ReloadCoalescer + ProcessRunner stop/start (the driver path), and again through
   FileWatcher -> Engine.reload (neodev.engine.supervisor) when the engine exists;
3. baseline: the same edit with the `watchfiles` CLI (`watchfiles '<python> src/app.py' src`);
4. idle cost: this process supervising the three example apps (backend, frontend, router) with
   their watchers over a tree of 50,000 files: CPU % and RSS of the supervising process (the
   in-process stand-in for the daemon: engine + runners + watchers) and of the app trees.

Prints min / median / p90 of each series, neodev's overhead (reload median minus cold start
median) and the ratio neodev / watchfiles.

Usage: .venv/bin/python benchmarks/reload_latency.py [--runs 10] [--files 50000] [--idle 10]
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
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import psutil

from neodev.config.model import Probe, ProcessSpec
from neodev.process.coalesce import ReloadCoalescer
from neodev.process.pids import PidRegistry
from neodev.process.runner import ProcessRunner
from neodev.process.watcher import FileWatcher

try:
    from neodev.engine.supervisor import Engine
except ImportError:  # the engine is optional here: drive the runner directly
    Engine = None  # type: ignore[assignment,misc]

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
    runner = ProcessRunner(backend_spec(backend, port), lambda *a: None, state / "logs",
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


async def neodev_reload(backend: Path, runs: int, state: Path,
                        use_engine: bool = True) -> tuple[list[float], str]:
    port = free_port()
    spec = backend_spec(backend, port)
    runner = ProcessRunner(spec, lambda *a: None, state / "logs", PidRegistry(state / "pids.json"),
                           bind=BIND)
    tasks: set[asyncio.Task[None]] = set()
    if Engine is not None and use_engine:
        engine = Engine({"backend": spec}, {"backend": runner})
        await engine.start()
        await engine.wait_ready(["backend"], TIMEOUT)
        mode = "FileWatcher -> Engine.reload -> ProcessRunner"

        def on_change(files: list[str]) -> None:
            task = asyncio.create_task(engine.reload("backend", files))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        stop_all: Callable[[], Awaitable[object]] = engine.stop
    else:
        await runner.start()
        coalescer = ReloadCoalescer()
        mode = "FileWatcher -> ReloadCoalescer -> ProcessRunner (no engine)"

        async def on_change(files: list[str]) -> None:  # type: ignore[misc]
            if coalescer.submit(files):
                batch: list[str] | None = coalescer.begin()
                while batch is not None:
                    await runner.stop(spec.stop_grace)
                    await runner.start()
                    batch = coalescer.finish()

        async def stop_all() -> None:
            await runner.stop(5.0)

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
        await stop_all()
        set_version(app, "v1")
    return times, mode


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


def make_tree(root: Path, files: int) -> None:
    """`files` small files: 90 % under backend/src/generated (watched), 10 % in node_modules."""
    watched = files * 9 // 10
    for i in range(watched):
        d = root / "backend" / "src" / "generated" / f"pkg{i // 100:04d}"
        if i % 100 == 0:
            d.mkdir(parents=True, exist_ok=True)
        (d / f"Gen{i}.kt").write_text("class Gen\n")
    for i in range(files - watched):
        d = root / "frontend" / "node_modules" / f"mod{i // 100:04d}"
        if i % 100 == 0:
            d.mkdir(parents=True, exist_ok=True)
        (d / "index.js").with_name(f"f{i}.js").write_text("module.exports = 1\n")


async def idle_cost(ws: Path, seconds: float, state: Path) -> None:
    backend_port, router_port, health_port, frontend_port = (free_port() for _ in range(4))
    (ws / "router" / "router.yaml").write_text(
        f"supergraph:\n  listen: 127.0.0.1:{router_port}\n"
        f"health_check:\n  listen: 127.0.0.1:{health_port}\n  path: /health\n"
        f"override_subgraph_url:\n  backend: http://127.0.0.1:{backend_port}/graphql\n")
    specs = [
        backend_spec(ws / "backend", backend_port),
        ProcessSpec(name="router", cwd=ws / "router", command=("./router", "--config",
                                                               "router.yaml"),
                    watch=("router.yaml", "supergraph.graphql"),
                    readiness=Probe(kind="http", url=f"http://127.0.0.1:{health_port}/health")),
        ProcessSpec(name="frontend", cwd=ws / "frontend", command=("npm", "run", "dev"),
                    env={"PORT": str(frontend_port)}, watch=("package.json", "next.config.*"),
                    readiness=Probe(kind="log", pattern="started server")),
    ]
    registry = PidRegistry(state / "pids.json")
    runners = {s.name: ProcessRunner(s, lambda *a: None, state / "logs", registry, bind=BIND)
               for s in specs}
    watchers = [FileWatcher(s, lambda files: None) for s in specs]
    me = psutil.Process()
    try:
        for runner in runners.values():
            await runner.start()
        for w in watchers:
            w.start()
        await asyncio.sleep(3.0)  # watches installed, apps started
        for runner in runners.values():
            await runner.stats()  # prime the per-process cpu counters
        cpu_before = me.cpu_times()
        wall_before = time.monotonic()
        samples = []
        while time.monotonic() - wall_before < seconds:
            await asyncio.sleep(2.0)  # the engine samples stats every 2 s: include that cost
            samples.append([await r.stats() for r in runners.values()])
        cpu_after = me.cpu_times()
        wall = time.monotonic() - wall_before
        used = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
        rss = me.memory_info().rss
        print(f"  supervisor (this process, 3 runners + 3 watchers): CPU {100 * used / wall:.2f} %"
              f"  RSS {rss / 2**20:.1f} MiB  threads {me.num_threads()}")
        for (name, _), stat in zip(runners.items(), samples[-1], strict=True):
            if stat is not None:
                print(f"  {name:9s} tree: CPU {stat.cpu_percent:.1f} %  RSS "
                      f"{stat.memory_bytes / 2**20:.1f} MiB")
    finally:
        for w in watchers:
            await w.stop()
        for runner in runners.values():
            await runner.stop(5.0)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--idle", type=float, default=10.0, help="idle measurement seconds")
    parser.add_argument("--direct", action="store_true",
                        help="drive ProcessRunner directly even when the engine exists")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="neodev-bench-") as tmp:
        ws, state = Path(tmp) / "neotool-mini", Path(tmp) / "state"
        shutil.copytree(EXAMPLE, ws)
        backend = ws / "backend"
        print(f"reload latency, {args.runs} runs each (python {sys.version.split()[0]}, "
              f"{os.cpu_count()} CPUs)")
        cold = await cold_start(backend, args.runs, state)
        print(f"  cold start (spawn -> first answer):   {summary(cold)}")
        direct, mode = await neodev_reload(backend, args.runs, state, use_engine=False)
        print(f"  neodev reload (edit -> new answer):   {summary(direct)}   [{mode}]")
        engine_times = None
        if Engine is not None and not args.direct:
            engine_times, mode = await neodev_reload(backend, args.runs, state, use_engine=True)
            print(f"  neodev reload via the engine:         {summary(engine_times)}   [{mode}]")
        base = await watchfiles_reload(backend, args.runs)
        print(f"  watchfiles CLI reload (baseline):     {summary(base)}")
        for label, series in (("driver", direct), ("engine", engine_times)):
            if series is None:
                continue
            overhead = statistics.median(series) - statistics.median(cold)
            print(f"  neodev ({label}) overhead (reload - cold start, medians): "
                  f"{overhead * 1000:.1f} ms; ratio to watchfiles (medians): "
                  f"{statistics.median(series) / statistics.median(base):.2f}")
        print(f"idle cost with watchers over {args.files} files, {args.idle:g} s "
              "(in-process engine stand-in, not the daemon process):")
        started = time.monotonic()
        make_tree(ws, args.files)
        print(f"  (tree created in {time.monotonic() - started:.1f} s)")
        await idle_cost(ws, args.idle, state)


if __name__ == "__main__":
    asyncio.run(main())
