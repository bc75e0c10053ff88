"""Five checkouts of the demo stack side by side: start times, memory, branching a database.

Five copies of this repository's profile, compose file and demo apps (`examples/`), one
profile (so the first keeps the profile's ports and the others get blocks), a registry of
their own (NEODEV_STATE_HOME in a temporary directory). The demo stack is what runs here:
Postgres and Prometheus from the local test images, the demo backend, router and frontend
(Grafana and Loki have no image here). Figures, in one run:

1. Start times (`neodev start --wait`, wall time, daemon spawn included). The baseline is the
   first instance's warm start (its containers and data exist) with nothing else running.
   Then instances 2-5 one after another on their first start (their data is initialised),
   and, in `--rounds` interleaved rounds: the first's warm start alone, 2-5 warm one after
   another, 2-5 warm all at once. Each as a ratio to the baseline (goal: at most 1.5x).
2. Memory (`neodev.inventory`: the daemon's process tree RSS plus each running container's
   memory without page cache): one instance alone, then all five; five against five times one,
   and one instance's parts (Postgres, Prometheus, the daemon, each process) for the sharing
   decision (docs/decisions/instances.md).
3. Branching a `--gb` database: `neodev start --db-from FIRST postgres` in a new checkout
   (pg_basebackup of the running server into the new volume, the server started, its password
   set) against `pg_dump -Fc | pg_restore` of the same database into a fresh Postgres of the
   same kind, interleaved `--copies` times each (goal: at most a third of the dump's time).

Everything is torn down at the end (`neodev down --volumes` in each checkout). The raw
figures are written as JSON next to the printed report (`--out`).

Run: `.venv/bin/python benchmarks/instances.py [--rounds 2] [--gb 1] [--copies 2]` on a quiet
machine (needs the engine, the test images, and the profile's ports free for the first
instance: 5432, 9090, 8080, 4000, 8088, 3000).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
from benchlib import POSTGRES_IMAGE, PROMETHEUS_IMAGE, ROOT, kill_daemon, kill_strays, ratio

UNITS = ["postgres", "prometheus", "backend", "router", "frontend"]
PROFILE_PORTS = (5432, 9090, 8080, 4000, 8088, 3000)
NEODEV = [sys.executable, "-m", "neodev"]


class Checkout:
    """One copy of the repository's profile, compose files and demo apps."""

    def __init__(self, root: Path, family: str, state_home: Path) -> None:
        self.root = root
        for name in ("profiles", "compose", "examples"):
            shutil.copytree(ROOT / name, root / name)
        profile = root / "profiles" / "local.toml"
        profile.write_text(profile.read_text().replace('name = "neotool"', f'name = "{family}"'))
        (root / ".env").write_text(
            (ROOT / ".env.example").read_text() + f"NEODEV_POSTGRES_IMAGE={POSTGRES_IMAGE}\n"
            f"NEODEV_PROMETHEUS_IMAGE={PROMETHEUS_IMAGE}\nNEODEV_PYTHON={sys.executable}\n")
        self.env = {**os.environ, "NEODEV_WORKSPACE": str(root), "NO_COLOR": "1",
                    "NEODEV_STATE_HOME": str(state_home)}
        for key in ("COMPOSE_PROJECT_NAME", "NEODEV_INSTANCE", "NEODEV_POSTGRES_IMAGE"):
            self.env.pop(key, None)

    def run(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([*NEODEV, *args], cwd=self.root, env=self.env,
                              capture_output=True, text=True, timeout=timeout, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"neodev {' '.join(args)} in {self.root} failed "
                             f"({proc.returncode}):\n{proc.stderr[-3000:]}{proc.stdout[-2000:]}")
        return proc

    def timed_start(self, *units: str) -> float:
        began = time.perf_counter()
        self.run("start", "--wait", "--timeout", "300", *(units or UNITS))
        return time.perf_counter() - began

    def name(self) -> str:
        status = json.loads(self.run("status", "--json").stdout)
        return str(status["instance_info"]["name"])

    def daemon_pid(self) -> int | None:
        try:
            return int(json.loads((self.root / ".neodev" / "daemon.json").read_text())["pid"])
        except (OSError, ValueError, KeyError):
            return None


def psql(container: str, sql: str, *, capture: bool = True) -> str:
    proc = subprocess.run(["docker", "exec", container, "psql", "-X", "-q", "-At", "-U",
                           "neotool", "-d", "neotool_dev", "-c", sql], capture_output=capture,
                          text=True, timeout=3600, check=True)
    return proc.stdout.strip() if capture else ""


def busy_seconds() -> float:
    """CPU seconds the whole machine spent working so far (every core, idle and I/O wait
    excluded): a start's CPU cost is the difference around it (other load included)."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def in_parallel(checkouts: list[Checkout]) -> list[float]:
    with ThreadPoolExecutor(len(checkouts)) as pool:
        return list(pool.map(lambda c: c.timed_start(), checkouts))


def memory(state_home: Path) -> dict[str, int]:
    """Each instance's memory: its daemon's tree plus its running containers."""
    from neodev.instances.registry import Registry
    from neodev.inventory import engine, survey

    client = engine()
    found = {s.name: s.memory_bytes or 0 for s in survey(Registry(state_home / "instances"),
                                                          client) if s.state == "running"}
    if client is not None:
        client.close()
    return found


def parts(first: Checkout, name: str) -> dict[str, int]:
    """One instance's memory by part: its containers, its daemon, each process's tree."""
    import docker

    from neodev.inventory import container_memory

    found: dict[str, int] = {}
    client = docker.from_env()
    for service in ("postgres", "prometheus"):
        found[service] = container_memory(client.containers.get(f"{name}-{service}-1"))
    client.close()
    pid = first.daemon_pid()
    if pid is not None:
        daemon = psutil.Process(pid)
        found["daemon"] = daemon.memory_info().rss
        for child in daemon.children():
            tree = [child, *child.children(recursive=True)]
            label = Path(child.cwd()).name
            found[label] = sum(p.memory_info().rss for p in tree if p.is_running())
    return found


def fill(container: str, gb: float) -> str:
    rows = int(gb * 1024 ** 3 // 330)  # ~330 bytes a row on disk, index included (measured)
    psql(container, "CREATE TABLE bench (id bigint PRIMARY KEY, body text)")
    psql(container, f"INSERT INTO bench SELECT g, repeat(md5(g::text), 8) "
                    f"FROM generate_series(1, {rows}) g")
    psql(container, "CHECKPOINT")
    return psql(container, "SELECT pg_size_pretty(pg_database_size('neotool_dev'))")


def branch_once(target: Checkout, source: str) -> dict[str, float]:
    began = time.perf_counter()
    proc = target.run("start", "--wait", "--db-from", source, "postgres")
    wall = time.perf_counter() - began
    said = re.search(r"copied in ([\d.]+) s, ready in ([\d.]+) s", proc.stderr)
    target.run("down", "--volumes")
    return {"wall": wall, "copy": float(said.group(1)) if said else wall,
            "ready": float(said.group(2)) if said else wall}


def dump_once(target: Checkout, source: str) -> dict[str, float]:
    target.run("start", "--wait", "postgres")
    name = target.name()
    began = time.perf_counter()
    dump = subprocess.Popen(["docker", "exec", f"{source}-postgres-1", "pg_dump", "-Fc", "-U",
                             "neotool", "neotool_dev"], stdout=subprocess.PIPE)
    restore = subprocess.run(["docker", "exec", "-i", f"{name}-postgres-1", "pg_restore",
                              "-U", "neotool", "-d", "neotool_dev", "--no-owner"],
                             stdin=dump.stdout, capture_output=True, timeout=7200, check=False)
    assert dump.stdout is not None
    dump.stdout.close()
    dump.wait(7200)
    took = time.perf_counter() - began
    if dump.returncode != 0 or restore.returncode != 0:
        raise SystemExit(f"pg_dump | pg_restore failed: {restore.stderr.decode()[-2000:]}")
    target.run("down", "--volumes")
    return {"dump_restore": took}


def report(raw: dict[str, Any]) -> list[str]:
    base = raw["baseline_warm"]
    cold = raw["first_cold"]
    out = [f"baseline: the first instance's warm start alone {base:.2f} s (median of "
           f"{len(raw['first_warm'])}: {', '.join(f'{t:.2f}' for t in raw['first_warm'])}); "
           f"its own first start (data initialised) {cold:.2f} s {ratio(cold, base)}", ""]
    out.append("start --wait, instances 2-5 (ratio to the baseline; goal <= 1.50x)")
    for label in ("first_start_sequential", "warm_sequential", "warm_all_at_once"):
        for index, series in enumerate(raw[label], start=2):
            median = statistics.median(series)
            out.append(f"  {label:<24} #{index}: {median:6.2f} s  {ratio(median, base)}  "
                       f"({', '.join(f'{t:.2f}' for t in series)})")
    cores = raw["machine"]["cpus"] or 1
    one_cpu = statistics.median(raw["first_warm_cpu"])
    four_cpu = statistics.median(raw["all_at_once_cpu"])
    out += [f"  CPU: a warm start alone costs the machine {one_cpu:.1f} CPU-s (wall "
            f"{base:.2f} s); four at once {four_cpu:.1f} CPU-s, so on {cores} cores they cannot "
            f"all be healthy before {four_cpu / cores:.1f} s ({ratio(four_cpu / cores, base)} "
            "the baseline): the all-at-once figure is bound by the cores, not by waiting"]
    one, five = raw["memory_one"], raw["memory_five"]
    total = sum(five.values())
    out += ["", "memory (daemon tree RSS + containers without page cache)",
            f"  one instance alone   {one / 2**20:8.1f} MiB",
            f"  five running         {total / 2**20:8.1f} MiB  = {ratio(total, 5 * one)} five "
            "times one",
            *(f"    {name:<24} {value / 2**20:7.1f} MiB" for name, value in five.items()),
            "  one instance's parts:",
            *(f"    {name:<24} {value / 2**20:7.1f} MiB"
              for name, value in raw["memory_parts"].items())]
    branch = statistics.median(b["wall"] for b in raw["branch"])
    copy = statistics.median(b["copy"] for b in raw["branch"])
    dump = statistics.median(d["dump_restore"] for d in raw["dump"])
    out += ["", f"branching {raw['database_size']} (goal: at most a third of the dump)",
            f"  start --db-from (copy + start + password), wall {branch:7.2f} s  "
            f"{ratio(branch, dump)}  (copy alone {copy:.2f} s {ratio(copy, dump)})",
            f"  pg_dump -Fc | pg_restore                   {dump:7.2f} s  1.00x",
            f"  runs: branch {[round(b['wall'], 2) for b in raw['branch']]}, "
            f"dump {[round(d['dump_restore'], 2) for d in raw['dump']]}"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="interleaved warm-start rounds")
    parser.add_argument("--gb", type=float, default=1.0, help="database size to branch")
    parser.add_argument("--copies", type=int, default=2, help="branch/dump runs each")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results"
                        / "instances.json")
    args = parser.parse_args()
    from neodev.ports import can_bind

    busy = [p for p in PROFILE_PORTS if not can_bind("127.0.0.1", p)]
    if busy:
        raise SystemExit(f"the profile's ports {busy} are taken: the first instance needs them")
    raw: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "when": time.time()}}
    with tempfile.TemporaryDirectory(prefix="neodev-bench-inst-") as tmp:
        base = Path(tmp)
        state = base / "state"
        family = f"ndbi{uuid.uuid4().hex[:6]}"
        checkouts = [Checkout(base / f"{family}-wt{i}", family, state) for i in range(1, 6)]
        spare = Checkout(base / f"{family}-branch", family, state)
        first, others = checkouts[0], checkouts[1:]
        try:
            raw["first_cold"] = first.timed_start()  # its data is initialised
            first.run("stop")
            raw["first_warm"] = [first.timed_start()]
            time.sleep(10)  # settle before the memory sample
            raw["memory_one"] = sum(memory(state).values())
            raw["memory_parts"] = parts(first, first.name())
            raw["first_start_sequential"] = [[c.timed_start()] for c in others]
            time.sleep(10)
            raw["memory_five"] = memory(state)
            raw["warm_sequential"] = [[] for _ in others]
            raw["warm_all_at_once"] = [[] for _ in others]
            for _ in range(args.rounds):
                for c in others:
                    c.run("stop")
                first.run("stop")
                cpu = busy_seconds()
                raw["first_warm"].append(first.timed_start())
                raw.setdefault("first_warm_cpu", []).append(busy_seconds() - cpu)
                for series, c in zip(raw["warm_sequential"], others, strict=True):
                    series.append(c.timed_start())
                for c in others:
                    c.run("stop")
                cpu = busy_seconds()
                for series, took in zip(raw["warm_all_at_once"], in_parallel(others),
                                        strict=True):
                    series.append(took)
                raw.setdefault("all_at_once_cpu", []).append(busy_seconds() - cpu)
            raw["baseline_warm"] = statistics.median(raw["first_warm"])
            for c in others:
                c.run("stop")
            source = first.name()
            raw["database_size"] = fill(f"{source}-postgres-1", args.gb)
            raw["branch"], raw["dump"] = [], []
            for _ in range(args.copies):  # interleaved
                raw["branch"].append(branch_once(spare, source))
                raw["dump"].append(dump_once(spare, source))
        finally:
            for c in [*checkouts, spare]:
                subprocess.run([*NEODEV, "down", "--volumes"], cwd=c.root, env=c.env,
                               capture_output=True, timeout=300, check=False)
                kill_daemon(c.root)
            kill_strays(base)
    lines = report(raw)
    print("\n".join(lines))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(raw, indent=2))
    args.out.with_suffix(".txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
