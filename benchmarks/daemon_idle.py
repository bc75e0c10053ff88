"""Idle cost of the real daemon: three demo units, one watching a 50,000-file tree.

What is measured: CPU (% of one core: user + system time of the daemon process, all its
threads, over wall time) and RSS of the neodev daemon while nothing happens, over a
measurement window (60 s) cut into slices (the window's mean is reported, the slices'
spread shown).

Set-up: a copy of examples/neotool-mini whose backend source tree is padded to 50,000 files
(in directories of 1,000), a profile with its three processes as in profiles/local.toml
(`./gradlew run` watching `src/**` — the big tree —, `./router --config router.yaml`
watching two files, `npm run dev` watching package.json; readiness probes as the demo's,
on free ports), started through the real CLI (`neodev start --wait`). No container.

Baseline, in the same run and over the same slices (sampled together): a plain watchfiles
loop over the same tree (`for _ in watchfiles.watch(tree): pass` in a fresh interpreter —
one watcher, no supervision, no API). Printed: daemon / baseline ratios and the goals of the
issue (under 0.5 % of a core, under 50 MiB RSS). The app processes' own RSS is printed apart
(not neodev's cost).

Usage:
    .venv/bin/python benchmarks/daemon_idle.py [--files 50000] [--window 60] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil
from benchlib import free_ports, kill_daemon, kill_strays, ratio, stop_group

ROOT = Path(__file__).resolve().parent.parent
NEODEV = Path(sys.executable).with_name("neodev")
CPU_GOAL = 0.5
"""% of one core."""
RSS_GOAL = 50 * 2**20
SLICES = 5
SETTLE = 5.0
"""Seconds after start --wait before measuring (first probes, stats samples, watch setup)."""


def profile(ports: dict[str, int]) -> str:
    return textwrap.dedent(f"""\
        [project]
        name = "nbidle{ports['backend']}"

        [processes.backend]
        cwd = "../../neotool-mini/backend"
        command = "./gradlew run"
        port = {ports['backend']}
        env = {{ PORT = "{ports['backend']}" }}
        watch = ["src/**"]
        ignore = ["build/**", ".gradle/**", "**/*.tmp"]
        reload = "restart"
        readiness = {{ tcp = {ports['backend']}, start_period = 60 }}

        [processes.router]
        cwd = "../../neotool-mini/router"
        command = "./router --config router.yaml"
        port = {ports['router']}
        watch = ["router.yaml", "supergraph.graphql"]
        reload = "restart"
        depends_on = {{ backend = "started" }}
        readiness = {{ http = "http://127.0.0.1:{ports['health']}/health", start_period = 60 }}

        [processes.frontend]
        cwd = "../../neotool-mini/frontend"
        command = "npm run dev"
        port = {ports['frontend']}
        env = {{ PORT = "{ports['frontend']}", ROUTER_URL = "http://127.0.0.1:{ports['router']}/graphql" }}
        watch = ["package.json", "next.config.*"]
        ignore = ["node_modules/**", ".next/**"]
        reload = "restart"
        depends_on = {{ router = "started" }}
        readiness = {{ http = "http://127.0.0.1:{ports['frontend']}/", start_period = 60 }}
        """)  # noqa: E501


def pad_tree(src: Path, files: int) -> None:
    per_dir = 1000
    for i in range(files):
        directory = src / "generated" / f"d{i // per_dir:03d}"
        if i % per_dir == 0:
            directory.mkdir(parents=True, exist_ok=True)
        (directory / f"f{i:05d}.kt").write_text("// padding\n")


def prepare(root: Path, files: int) -> tuple[Path, Path, dict[str, int]]:
    """The workspace, the padded tree, the ports."""
    demo = root / "neotool-mini"
    shutil.copytree(ROOT / "examples" / "neotool-mini", demo)
    names = ("backend", "router", "health", "frontend")
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    router = demo / "router" / "router.yaml"
    router.write_text(router.read_text()
                      .replace("127.0.0.1:4000", f"127.0.0.1:{ports['router']}")
                      .replace("127.0.0.1:8088", f"127.0.0.1:{ports['health']}")
                      .replace("127.0.0.1:8080", f"127.0.0.1:{ports['backend']}"))
    ws = root / "ws"
    (ws / "profiles").mkdir(parents=True)
    (ws / "profiles" / "local.toml").write_text(profile(ports))
    src = demo / "backend" / "src"
    pad_tree(src, files)
    return ws, src, ports


def sample(procs: list[psutil.Process], window: float, slices: int
           ) -> list[list[tuple[float, int]]]:
    """Per process, per slice: (CPU % of one core, RSS bytes at the slice's end)."""
    found: list[list[tuple[float, int]]] = [[] for _ in procs]
    for _ in range(slices):
        before = [p.cpu_times() for p in procs]
        start = time.monotonic()
        time.sleep(window / slices)
        elapsed = time.monotonic() - start
        for i, p in enumerate(procs):
            after = p.cpu_times()
            cpu = (after.user + after.system - before[i].user - before[i].system) / elapsed
            found[i].append((cpu * 100, p.memory_info().rss))
    return found


def baseline(src: Path) -> subprocess.Popen[bytes]:
    code = ("import sys\nfrom watchfiles import watch\n"
            "for _ in watch(sys.argv[1]):\n    pass\n")
    return subprocess.Popen([sys.executable, "-c", code, str(src)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    for child in proc.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:
            continue
    return total


def measure(files: int, window: float) -> int:
    with tempfile.TemporaryDirectory(prefix="neodev-idle-") as name:
        root = Path(name)
        started = time.monotonic()
        ws, src, _ = prepare(root, files)
        print(f"daemon idle: {files:,} files under {src.name}/ (padded in "
              f"{time.monotonic() - started:.1f} s), {window:.0f} s window in {SLICES} slices")
        env = {**os.environ, "NEODEV_WORKSPACE": str(ws), "NO_COLOR": "1",
               "NEODEV_PYTHON": sys.executable}
        base = baseline(src)
        try:
            result = subprocess.run([str(NEODEV), "start", "--wait", "--timeout", "120"],
                                    cwd=ws, env=env, capture_output=True,
                                    text=True, timeout=180, check=False)
            if result.returncode != 0:
                raise SystemExit(f"neodev start failed: {result.stderr}{result.stdout}")
            info = psutil.Process(_daemon_pid(ws))
            time.sleep(SETTLE)
            daemon_slices, base_slices = sample([info, psutil.Process(base.pid)], window,
                                                SLICES)
            apps = tree_rss(info)
        finally:
            subprocess.run([str(NEODEV), "stop"], cwd=ws, env=env,
                           capture_output=True, timeout=90, check=False)
            kill_daemon(ws)
            stop_group(base)
            kill_strays(root)
    report(daemon_slices, base_slices, apps)
    return 0


def _daemon_pid(ws: Path) -> int:
    return int(json.loads((ws / ".neodev" / "daemon.json").read_text())["pid"])


def report(daemon: list[tuple[float, int]], base: list[tuple[float, int]], apps: int) -> None:
    # Slices are equal: the window's CPU is their mean (CPU times tick at 10 ms, so the whole
    # window is the precise figure; the slices show the spread).
    d_cpu, b_cpu = [c for c, _ in daemon], [c for c, _ in base]
    dc, bc = statistics.fmean(d_cpu), statistics.fmean(b_cpu)
    d_rss, b_rss = max(r for _, r in daemon), max(r for _, r in base)
    print(f"  daemon CPU          {dc:6.2f} % of one core over the window (slices "
          f"{min(d_cpu):.2f}..{max(d_cpu):.2f})   goal < {CPU_GOAL} %: "
          f"{'met' if dc < CPU_GOAL else 'NOT met'}")
    print(f"  watchfiles loop CPU {bc:6.2f} % of one core over the window (slices "
          f"{min(b_cpu):.2f}..{max(b_cpu):.2f})")
    print(f"  daemon RSS          {d_rss / 2**20:6.1f} MiB (peak of the slices)   goal < "
          f"{RSS_GOAL / 2**20:.0f} MiB: {'met' if d_rss < RSS_GOAL else 'NOT met'}")
    print(f"  watchfiles loop RSS {b_rss / 2**20:6.1f} MiB")
    cpu_ratio = ratio(dc, bc) if bc >= 0.01 else "n/a (baseline ~0)"
    print(f"  daemon / watchfiles loop: CPU {cpu_ratio} ({dc - bc:+.2f} points), RSS "
          f"{ratio(d_rss, b_rss)} ({(d_rss - b_rss) / 2**20:+.1f} MiB)")
    print(f"  app process trees   {apps / 2**20:6.1f} MiB (backend, router, frontend with npm;"
          " not neodev's cost)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--window", type=float, default=60.0, help="seconds measured")
    parser.add_argument("--quick", action="store_true", help="15 s window")
    args = parser.parse_args()
    return measure(args.files, 15.0 if args.quick else args.window)


if __name__ == "__main__":
    sys.exit(main())
