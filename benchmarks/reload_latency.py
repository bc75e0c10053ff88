"""Edit-to-new-version latency of hot reload: neodev against nodemon, watchfiles and hupper.

What is measured: the time from the moment a watched file is written until an HTTP client
sees the new version of the app. The app is a tiny stdlib HTTP server (`src/server.py`) that
reads `src/version.txt` once at start and answers it on `GET /`, so its own start (spawn ->
first answer, measured as the floor) is a few tens of ms and does not hide a supervisor's
overhead. Each contender runs the same server from its own copy of the app on its own free
port, all at the same time; one edit = write a new `src/version.txt`, then poll
`http://127.0.0.1:<port>/` every 1 ms (one HTTP/1.0 request per poll, bounded to 15 s).

Contenders, interleaved run by run (cold, A, B, C, D, E, cold, A, B, ...):

- cold start (floor): spawn `python -u src/server.py` -> first answer, then SIGTERM;
- neodev daemon: a throwaway workspace whose profile has one process watching `src/**`,
  started through the real CLI (`neodev start --wait`, the daemon runs as in production);
  neodev's own reported reload time (`last_reload.duration` of `neodev status --json`) is
  read after each edit and printed beside what the client saw;
- neodev in-process: `FileWatcher -> Engine.reload -> ProcessRunner` in a helper process, the
  spec loaded from the same kind of profile (the daemon's code path without the daemon);
- nodemon (npm): `nodemon --delay 0 --signal SIGTERM --watch src --ext py,txt --exec
  "<python> -u src/server.py"` (chokidar on inotify; no debounce; kills the `sh -c` tree);
- watchfiles loop: a hand-written supervisor (`--role watchfiles`): `watchfiles.watch(src,
  step=10, debounce=1600)` (Rust notify/inotify, 10 ms quiet step), on each batch SIGTERM to
  the server's process group, wait for it, spawn it again (own session);
- hupper: a wrapper calling `hupper.start_reloader(..., reload_interval=0.001,
  shutdown_interval=1)` whose worker calls `watch_files([src/version.txt])` and serves; the
  monitor is watchdog (inotify) when the watchdog package is installed, else hupper's polling
  monitor with a 50 ms interval — the output says which.

Printed: per contender min / median / p90 / IQR (spread) / max, the ratio neodev / peer of the
medians against every peer and the fastest one, neodev's overhead over the cold start, and
neodev's reported reload time next to the observed one.

Peers: nodemon is looked up in benchmarks/.peers (npm --prefix), then on PATH; hupper and
watchdog in this Python. `--install-peers` installs them (npm and pip, the only network use);
a missing peer is skipped with a message.

Usage:
    .venv/bin/python benchmarks/reload_latency.py [--runs 20] [--quick] [--install-peers]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from benchlib import Summary, free_ports, kill_daemon, kill_strays, ratio, stop_group

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.waiting import until

HERE = Path(__file__).resolve().parent
PEERS = HERE / ".peers"
NEODEV = Path(sys.executable).with_name("neodev")
POLL = 0.001
ANSWER_TIMEOUT = 15.0
SETTLE = 0.3
"""Pause after each measurement so restarts finish before the next contender's edit."""
MAX_FAILURES = 3

SERVER = textwrap.dedent('''\
    """The benchmark app: answers the version it read at start (stdlib only)."""
    import os
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from pathlib import Path

    VERSION = (Path(__file__).parent / "version.txt").read_bytes().strip()


    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(VERSION)))
            self.end_headers()
            self.wfile.write(VERSION)

        def log_message(self, *args):
            pass


    def serve(port):
        HTTPServer(("127.0.0.1", port), Handler).serve_forever()


    if __name__ == "__main__":
        serve(int(os.environ["PORT"]))
    ''')


def profile_text(name: str, port: int) -> str:
    return textwrap.dedent(f"""\
        [project]
        name = "{name}"

        [processes.app]
        cwd = "../app"
        command = ["{sys.executable}", "-u", "src/server.py"]
        port = {port}
        env = {{ PORT = "{port}" }}
        watch = ["src/**"]
        reload = "restart"
        readiness = {{ http = "http://127.0.0.1:{port}/", interval = 0.05, start_period = 30 }}
        """)


def make_app(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "src" / "server.py").write_text(SERVER)
    (root / "src" / "version.txt").write_text("v0\n")
    return root


def ask(port: int) -> str | None:
    """One GET / (HTTP/1.0, new connection); the body, or None when nothing answers."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
            s.sendall(b"GET / HTTP/1.0\r\nHost: bench\r\n\r\n")
            data = b""
            for _ in range(64):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    return body.decode() if head.startswith(b"HTTP/1.") else None


def wait_answer(port: int, want: str, timeout: float = ANSWER_TIMEOUT) -> float | None:
    """Poll every POLL seconds until the app answers `want`; time.monotonic() then, or None."""
    try:
        until(lambda: ask(port), f"the answer {want!r}", timeout, ok=lambda got: got == want,
              interval=POLL)
    except AssertionError:
        return None
    return time.monotonic()


class LineReader:
    """Lines of a child's stdout, read by a thread (so waiting for one is bounded)."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, prefix: str, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                return None
            if line.startswith(prefix):
                return line
        return None


@dataclass
class Contender:
    """One hot-reload supervisor running the app from `app` on `port`."""

    name: str
    what: str
    app: Path
    port: int
    observed: list[float] = field(default_factory=list)
    reported: list[tuple[float, float]] = field(default_factory=list)
    """(observed, neodev's own reported duration) pairs, for the neodev contenders."""
    failures: int = 0
    proc: subprocess.Popen[str] | None = None
    reader: LineReader | None = None
    cleanup: list[Callable[[], None]] = field(default_factory=list)

    def spawn(self, argv: list[str], env: dict[str, str] | None = None, *,
              log: str | None = None) -> None:
        out: Any = subprocess.PIPE if log is None else open(self.app / log, "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            argv, cwd=self.app, env={**os.environ, "PORT": str(self.port), **(env or {})},
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)
        if log is None:
            assert self.proc.stdout is not None
            self.reader = LineReader(self.proc.stdout)
        else:
            out.close()

    def edit(self, tag: str) -> float | None:
        """Write the new version; seconds until the client saw it (None: not within bounds)."""
        path = self.app / "src" / "version.txt"
        started = time.monotonic()
        path.write_text(tag + "\n")
        seen = wait_answer(self.port, tag)
        return None if seen is None else seen - started

    def after_edit(self, observed: float) -> None:
        """What the contender says about the reload it just did (neodev only)."""

    def stop(self) -> None:
        for step in reversed(self.cleanup):
            with contextlib.suppress(Exception):
                step()
        if self.proc is not None:
            stop_group(self.proc)


class NeodevDaemon(Contender):
    """The real daemon, spawned and driven through the CLI as a person would."""

    def __init__(self, root: Path, port: int) -> None:
        super().__init__("neodev daemon", "neodev start --wait; FileWatcher in the daemon",
                         make_app(root / "app"), port)
        self.ws = root
        (root / "profiles").mkdir()
        (root / "profiles" / "local.toml").write_text(profile_text(f"nbr{os.getpid()}", port))
        self.env = {**os.environ, "NEODEV_WORKSPACE": str(root), "NO_COLOR": "1"}
        self._last_at = 0.0

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(NEODEV), *args], cwd=self.ws, env=self.env, text=True,
                              capture_output=True, timeout=timeout, check=False)

    def start(self) -> None:
        self.cleanup.append(self._shutdown)
        result = self.cli("start", "--wait", "--timeout", "60")
        if result.returncode != 0:
            raise RuntimeError(f"neodev start failed ({result.returncode}): "
                               f"{result.stderr}{result.stdout}")

    def after_edit(self, observed: float) -> None:
        def last_reload() -> dict[str, Any] | None:
            result = self.cli("status", "--json", timeout=30)
            units = json.loads(result.stdout).get("units", []) if result.stdout else []
            found: dict[str, Any] | None = next(
                (u["last_reload"] for u in units if u["name"] == "app"), None)
            return found

        try:
            last = until(last_reload, "neodev's report of the reload", 10, interval=0.05,
                         ok=lambda last: last is not None and last.get("at", 0) > self._last_at
                         and last.get("duration") is not None)
        except AssertionError:
            return  # not reported: no figure from neodev for this edit
        self._last_at = last["at"]
        if last["outcome"] == "ok":
            self.reported.append((observed, float(last["duration"])))

    def _shutdown(self) -> None:
        self.cli("stop", timeout=90)
        kill_daemon(self.ws)


class Supervised(Contender):
    """A supervisor started once, whose readiness is the app's first answer."""

    def start_with(self, argv: list[str], env: dict[str, str] | None = None,
                   log: str | None = "supervisor.log", ready_line: str | None = None) -> None:
        self.spawn(argv, env, log=log)
        if ready_line is not None:
            assert self.reader is not None
            if self.reader.wait_for(ready_line, 60) is None:
                raise RuntimeError(f"{self.name}: no {ready_line!r} from the helper in 60 s")
        if wait_answer(self.port, "v0", timeout=60) is None:
            raise RuntimeError(f"{self.name}: the app never answered (see {self.app}/{log})")


class NeodevInProcess(Supervised):
    def after_edit(self, observed: float) -> None:
        assert self.reader is not None
        line = self.reader.wait_for("reload ", 10)
        if line is not None:
            _, duration, outcome = line.split()
            if outcome == "ok":
                self.reported.append((observed, float(duration)))


def cold_start(app: Path, port: int) -> float | None:
    """Spawn the server, time its first answer, stop it."""
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-u", "src/server.py"], cwd=app,
                            env={**os.environ, "PORT": str(port)}, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        seen = wait_answer(port, "v0")
        return None if seen is None else seen - started
    finally:
        stop_group(proc)


def find_nodemon() -> Path | None:
    local = PEERS / "node_modules" / ".bin" / "nodemon"
    if local.exists():
        return local
    found = shutil.which("nodemon")
    return Path(found) if found else None


def install_peers() -> None:
    """The only network use: nodemon from npm into benchmarks/.peers, hupper and watchdog."""
    PEERS.mkdir(exist_ok=True)
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(PEERS),
                    "nodemon@3"], check=True, timeout=600)
    subprocess.run([sys.executable, "-m", "pip", "install", "hupper", "watchdog"], check=True,
                   timeout=600)


def build_contenders(tmp: Path, ports: list[int], contenders: list[Contender]) -> list[str]:
    """Start every contender that can run here (appended to `contenders` before it starts, so
    a failure leaves it to be cleaned up); returns what was skipped."""
    skipped: list[str] = []
    me = [sys.executable, str(Path(__file__).resolve())]

    daemon = NeodevDaemon(tmp / "neodev-daemon", ports[0])
    contenders.append(daemon)
    daemon.start()

    ws = tmp / "neodev-inproc"
    inproc = NeodevInProcess("neodev in-process", "FileWatcher -> Engine.reload -> "
                             "ProcessRunner (helper process)", make_app(ws / "app"), ports[1])
    (ws / "profiles").mkdir()
    (ws / "profiles" / "local.toml").write_text(profile_text("nbrinproc", ports[1]))
    contenders.append(inproc)
    inproc.start_with([*me, "--role", "inproc", "--workspace", str(ws)], log=None,
                      ready_line="ready")

    nodemon = find_nodemon()
    if nodemon is None:
        skipped.append("nodemon: not found (run with --install-peers, or "
                       "npm install --prefix benchmarks/.peers nodemon)")
    else:
        peer = Supervised("nodemon", "nodemon --delay 0 --signal SIGTERM (chokidar)",
                          make_app(tmp / "nodemon"), ports[2])
        contenders.append(peer)
        peer.start_with([str(nodemon), "--delay", "0", "--signal", "SIGTERM", "--watch", "src",
                         "--ext", "py,txt", "--exec", f"{sys.executable} -u src/server.py"])

    peer = Supervised("watchfiles loop", "watch(step=10) + SIGTERM group + respawn",
                      make_app(tmp / "watchfiles"), ports[3])
    contenders.append(peer)
    peer.start_with([*me, "--role", "watchfiles", "--dir", str(peer.app)])

    if importlib.util.find_spec("hupper") is None:
        skipped.append("hupper: not installed in this Python (--install-peers, or "
                       "pip install hupper watchdog)")
    else:
        mode = "watchdog" if importlib.util.find_spec("watchdog") else "polling 50 ms"
        peer = Supervised("hupper", f"start_reloader, {mode} monitor",
                          make_app(tmp / "hupper"), ports[4])
        contenders.append(peer)
        peer.start_with([*me, "--role", "hupper", "--dir", str(peer.app)],
                        env={"PYTHONPATH": str(HERE)})
    return skipped


def report(cold: list[float], contenders: list[Contender], cold_failures: int) -> None:
    floor = Summary.of(cold)
    width = max(len(c.name) for c in contenders) + 2
    print(f"\n{'cold start':<{width}} {floor.ms()}   [spawn -> first answer"
          f"{f', {cold_failures} failed' if cold_failures else ''}]")
    stats: dict[str, Summary] = {}
    for c in contenders:
        if not c.observed:
            print(f"{c.name:<{width}} no successful run ({c.failures} failed)")
            continue
        stats[c.name] = Summary.of(c.observed)
        failed = f", {c.failures} failed" if c.failures else ""
        print(f"{c.name:<{width}} {stats[c.name].ms()}   [{c.what}{failed}]")
    neodevs = [c for c in contenders if c.name.startswith("neodev") and c.name in stats]
    peers = {n: s for n, s in stats.items() if not n.startswith("neodev")}
    if not neodevs:
        return
    print("\nratios of medians (edit -> new version seen by the client):")
    fastest = min(peers, key=lambda n: peers[n].median) if peers else None
    for c in neodevs:
        own = stats[c.name]
        parts = [f"/ {n} {ratio(own.median, s.median)}" for n, s in peers.items()]
        print(f"  {c.name:<{width}} {'  '.join(parts)}")
        if fastest:
            best = peers[fastest].median
            print(f"  {'':<{width}} vs the fastest peer ({fastest}, median {best * 1e3:.1f} "
                  f"ms): {ratio(own.median, best)}, {(own.median - best) * 1e3:+.1f} ms")
        print(f"  {'':<{width}} overhead over the cold start: "
              f"{(own.median - floor.median) * 1e3:+.1f} ms ({ratio(own.median, floor.median)})")
    for name, s in peers.items():
        print(f"  {name:<{width}} overhead over the cold start: "
              f"{(s.median - floor.median) * 1e3:+.1f} ms ({ratio(s.median, floor.median)})")
    print("\nneodev's own reported reload time (last_reload.duration) vs what the client saw:")
    for c in neodevs:
        if not c.reported:
            print(f"  {c.name:<{width}} no reported reload read")
            continue
        seen = Summary.of([o for o, _ in c.reported])
        said = Summary.of([r for _, r in c.reported])
        gap = Summary.of([r - o for o, r in c.reported])
        print(f"  {c.name:<{width}} reported median {said.median * 1e3:7.1f} ms, observed "
              f"median {seen.median * 1e3:7.1f} ms, reported - observed: median "
              f"{gap.median * 1e3:+7.1f} ms (min {gap.min * 1e3:+.1f}, max {gap.max * 1e3:+.1f})"
              f"  (n={len(c.reported)})")


def run(runs: int) -> int:
    with tempfile.TemporaryDirectory(prefix="neodev-reload-") as name:
        tmp = Path(name)
        ports = free_ports(6)
        cold_app = make_app(tmp / "cold")
        contenders: list[Contender] = []
        try:
            skipped = build_contenders(tmp, ports, contenders)
            for line in skipped:
                print(f"skipped {line}")
            print(f"reload latency: {runs} interleaved rounds, python "
                  f"{sys.version.split()[0]}, {os.cpu_count()} CPUs; poll every "
                  f"{POLL * 1e3:.0f} ms; contenders: cold, "
                  f"{', '.join(c.name for c in contenders)}")
            cold: list[float] = []
            cold_failures = 0
            time.sleep(1.0)  # every watcher in place, first stats samples done
            for r in range(runs):
                took = cold_start(cold_app, ports[5])
                if took is None:
                    cold_failures += 1
                else:
                    cold.append(took)
                time.sleep(SETTLE)
                for c in contenders:
                    if c.failures >= MAX_FAILURES:
                        continue
                    observed = c.edit(f"r{r}")
                    if observed is None:
                        c.failures += 1
                        print(f"  round {r}: {c.name} did not show the new version within "
                              f"{ANSWER_TIMEOUT:.0f} s")
                    else:
                        c.observed.append(observed)
                        c.after_edit(observed)
                    time.sleep(SETTLE)
                print(f"  round {r + 1}/{runs}: " + "  ".join(
                    f"{c.name} {c.observed[-1] * 1e3:.0f}" for c in contenders if c.observed)
                    + " ms", flush=True)
            if not cold:
                print("the app never started by itself: no floor")
                return 1
            report(cold, contenders, cold_failures)
        finally:
            for c in contenders:
                c.stop()
            strays = kill_strays(tmp)
            if strays:
                print(f"(killed {len(strays)} leftover process(es) under {tmp}: {strays})")
    return 0


# -- helper roles (run in their own processes) ------------------------------------------


def role_watchfiles(app: Path) -> None:
    """The hand-written peer: watchfiles with a 10 ms step, kill the group, respawn."""
    from watchfiles import watch

    def spawn() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-u", "src/server.py"], cwd=app,
                                stdin=subprocess.DEVNULL, start_new_session=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    child = spawn()
    try:
        for _changes in watch(app / "src", step=10, debounce=1600, rust_timeout=500,
                              yield_on_timeout=True, stop_event=stop):
            if stop.is_set():
                break
            if not _changes:
                continue
            stop_group(child, grace=5.0)
            child = spawn()
    finally:
        stop_group(child, grace=5.0)


def hupper_worker(app: str) -> None:
    """hupper's worker: watch the version file, serve (runs in hupper's child process)."""
    import hupper

    hupper.get_reloader().watch_files([os.path.join(app, "src", "version.txt")])
    sys.path.insert(0, os.path.join(app, "src"))
    import server  # type: ignore[import-not-found]

    server.serve(int(os.environ["PORT"]))


def role_hupper(app: Path) -> None:
    import hupper

    # With watchdog the interval is only the throttle between restarts: the least hupper takes
    # (> 0). Polling: the scan period (and the throttle).
    interval = 0.001 if importlib.util.find_spec("watchdog") else 0.05
    hupper.start_reloader(f"{Path(__file__).stem}.hupper_worker", reload_interval=interval,
                          shutdown_interval=1.0, verbose=0, worker_kwargs={"app": str(app)})


async def role_inproc(workspace: Path) -> None:
    """neodev's reload path without the daemon: the spec from the profile, one ProcessRunner
    under an Engine, a FileWatcher calling Engine.reload as the daemon's environment does."""
    from neodev.config.loader import load_plan
    from neodev.engine.engine import Engine
    from neodev.process.pids import PidRegistry
    from neodev.process.runner import ProcessRunner
    from neodev.process.watcher import FileWatcher

    plan = load_plan(workspace, "local")
    spec = plan.processes["app"]
    state = workspace / ".state"
    state.mkdir()
    runner = ProcessRunner(spec, lambda *a: None, PidRegistry(state / "pids.json"))
    engine = Engine({"app": spec}, {"app": runner})
    tasks: set[asyncio.Task[None]] = set()

    def on_change(files: list[str]) -> None:
        async def reload() -> None:
            await engine.reload("app", files)
            record = engine.status_of("app").last_reload
            if record is not None:
                print(f"reload {record.duration} {record.outcome}", flush=True)

        task = asyncio.create_task(reload())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await engine.start()
    [verdict] = await engine.wait_ready(["app"], 60)
    watcher = FileWatcher(spec, on_change)
    watcher.start()
    try:
        await asyncio.wait_for(watcher.ready.wait(), 10)  # inotify watches placed
        print("ready" if verdict.ok else f"not ready: {verdict.reason}", flush=True)
        await asyncio.wait_for(stop.wait(), 3600)
    finally:
        await watcher.stop()
        await engine.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="edits per contender")
    parser.add_argument("--quick", action="store_true", help="5 runs")
    parser.add_argument("--install-peers", action="store_true",
                        help="npm install nodemon into benchmarks/.peers, pip install hupper "
                             "watchdog, then measure")
    parser.add_argument("--role", choices=("inproc", "watchfiles", "hupper"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--workspace", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "inproc":
        asyncio.run(role_inproc(args.workspace))
        return 0
    if args.role == "watchfiles":
        role_watchfiles(args.dir)
        return 0
    if args.role == "hupper":
        role_hupper(args.dir)
        return 0
    if args.install_peers:
        install_peers()
    return run(5 if args.quick else args.runs)


if __name__ == "__main__":
    sys.exit(main())
