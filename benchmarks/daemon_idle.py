"""Idle cost of the real daemon supervising the three demo processes over a 50,000-file tree.

The daemon is started by the real CLI (`neodev start --wait`) on a copy of
examples/neotool-mini whose backend source tree is padded to 50,000 files (all watched by the
backend's `src/**` glob). Once everything is ready it samples, over a quiet window, the daemon
process's CPU (user+system time delta / wall time) and RSS. Baseline in the same run: the
`watchfiles` CLI watching the same tree (one watcher, no supervision, no API), idle.

Run: `.venv/bin/python benchmarks/daemon_idle.py [--files 50000] [--window 20]`
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.integration.stack_workspace import NeodevCLI, StackWorkspace  # noqa: E402

PROFILE = textwrap.dedent("""\
    [project]
    name = "ndbench"
    env_file = "../.env"

    [processes.backend]
    cwd = "${NEOTOOL_ROOT}/backend"
    command = "./gradlew run"
    port = 8080
    watch = ["src/**"]
    reload = "restart"
    readiness = { tcp = 8080, start_period = 30 }

    [processes.router]
    cwd = "${NEOTOOL_ROOT}/router"
    command = "./router --config router.yaml"
    port = 4000
    watch = ["router.yaml", "supergraph.graphql"]
    depends_on = { backend = "started" }
    readiness = { http = "http://127.0.0.1:8088/health", start_period = 30 }

    [processes.frontend]
    cwd = "${NEOTOOL_ROOT}/frontend"
    command = "npm run dev"
    port = 3000
    watch = ["package.json"]
    depends_on = { router = "started" }
    readiness = { http = "http://127.0.0.1:3000/", start_period = 30 }
    """)


def pad_tree(src: Path, files: int) -> None:
    per_dir = 1000
    for i in range(files):
        directory = src / "generated" / f"d{i // per_dir:03d}"
        if i % per_dir == 0:
            directory.mkdir(parents=True, exist_ok=True)
        (directory / f"f{i:05d}.kt").write_text("// padding\n")


def sample(proc: psutil.Process, window: float) -> tuple[float, int]:
    """(CPU % of one core, RSS bytes) of `proc` over `window` seconds."""
    before = proc.cpu_times()
    start = time.monotonic()
    time.sleep(window)
    after = proc.cpu_times()
    elapsed = time.monotonic() - start
    cpu = (after.user + after.system - before.user - before.system) / elapsed * 100
    return cpu, proc.memory_info().rss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--window", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="neodev-idle-") as tmp:
        root = Path(tmp) / "ws"
        (root / "profiles").mkdir(parents=True)
        shutil.copytree(ROOT / "examples", root / "examples")
        (root / "profiles" / "local.toml").write_text(PROFILE)
        (root / ".env").write_text(f"NEOTOOL_ROOT=./examples/neotool-mini\n"
                                   f"NEODEV_PYTHON={sys.executable}\n")
        src = root / "examples/neotool-mini/backend/src"
        pad_tree(src, args.files)
        cli = NeodevCLI(StackWorkspace(root=root, project="ndbench", ports={}))
        try:
            result = cli("start", "--wait", "--timeout", "120")
            if result.code != 0:
                raise SystemExit(f"start failed: {result.err}{result.out}")
            info = cli.daemon_info()
            assert info is not None
            daemon = psutil.Process(info["pid"])
            time.sleep(3)  # let the first stats samples and probes settle
            cpu, rss = sample(daemon, args.window)
            children = [p for p in daemon.children(recursive=True)]
            apps_rss = sum(p.memory_info().rss for p in children if p.is_running())
        finally:
            cli("stop")
        baseline_cpu, baseline_rss = watchfiles_baseline(src, args.window)
    print(f"daemon idle, 3 processes supervised, {args.files:,} watched files, "
          f"{args.window:.0f}s window")
    print(f"  daemon CPU   {cpu:5.2f} % of one core   (watchfiles CLI alone: "
          f"{baseline_cpu:.2f} %)")
    print(f"  daemon RSS   {rss / 2**20:6.1f} MiB          (watchfiles CLI alone: "
          f"{baseline_rss / 2**20:.1f} MiB) -> {rss / baseline_rss:.2f}x")
    print(f"  app trees    {apps_rss / 2**20:6.1f} MiB (backend, router, frontend with npm)")
    return 0


def watchfiles_baseline(src: Path, window: float) -> tuple[float, int]:
    cli = Path(sys.executable).with_name("watchfiles")
    proc = subprocess.Popen([str(cli), "sleep 3600", str(src)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        time.sleep(3)
        return sample(psutil.Process(proc.pid), window)
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
