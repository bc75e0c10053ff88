"""`logs --since`: only lines newer than the time given, filtered by the daemon over every
retained line (paged like any query), and through the real CLI.

The daemon side runs the scripted environment in process (tests/api/scripted.py); the CLI side
runs `neodev logs` as a subprocess against the scripted daemon on a real socket
(tests/tui/scripted_daemon.py), found the way the CLI finds any daemon (status file and lock).
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from neodev.client import calls
from neodev.paths import WorkspacePaths
from neodev.rendezvous import DaemonInfo, DaemonLock, write_info
from tests.api.scripted import plan_of, process, scripted
from tests.supervisor.vclock import virtual_time
from tests.tui.scripted_daemon import ScriptedDaemon, shop_plan, shop_runners


@virtual_time
async def test_the_daemon_keeps_only_lines_at_or_after_since_across_pages(tmp_path: Path
                                                                           ) -> None:
    plan = plan_of(tmp_path, process("db", tmp_path), process("api", tmp_path))
    async with scripted(tmp_path, plan) as s:
        for second in range(100):  # one line a second, both units, in id order
            s.env.logs.append("api", f"api at {second}", "stdout", 1000.0 + second)
            s.env.logs.append("db", f"db at {second}", "stdout", 1000.0 + second)
        page = await s.client.call(calls.logs(None, since=1090.0, limit=500))
        assert [line.line for line in page.lines][:2] == ["api at 90", "db at 90"]
        assert len(page.lines) == 20 and not page.more
        assert all(line.ts >= 1090.0 for line in page.lines)
        # one unit, paged backwards: every page is newer than since, and the pages end there
        seen: list[str] = []
        before = None
        for _ in range(10):
            part = await s.client.call(calls.logs(["api"], since=1095.5, before=before,
                                                  limit=2))
            seen = [line.line for line in part.lines] + seen
            if not part.more or not part.lines:
                break
            before = part.lines[0].id
        assert seen == [f"api at {n}" for n in range(96, 100)]
        # with a search: both filters hold
        found = await s.client.call(calls.logs(None, q="at 9", since=1095.0, limit=500))
        assert {line.line for line in found.lines} == {
            f"{unit} at {n}" for unit in ("api", "db") for n in range(95, 100)}
        assert (await s.client.call(calls.logs(None, since=5000.0))).lines == ()


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ScriptedDaemon]:
    """The scripted shop's daemon, announced as this workspace's daemon (status file, lock)."""
    root = tmp_path / "shop"
    root.mkdir()
    paths = WorkspacePaths(root)
    with ScriptedDaemon(root, shop_plan(root), shop_runners()) as scripted_daemon:
        lock = DaemonLock(paths)
        assert lock.try_acquire()
        write_info(paths, DaemonInfo(pid=os.getpid(), create_time=0.0, socket=str(paths.socket),
                                     profile="local", workspace=str(root),
                                     started_at=time.time(), version="test"))
        try:
            yield scripted_daemon
        finally:
            lock.release()


def neodev_logs(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NEODEV_WORKSPACE": str(root)}
    return subprocess.run([sys.executable, "-m", "neodev", "logs", *args], env=env, text=True,
                          capture_output=True, timeout=60, cwd=root)


def test_logs_since_through_the_cli_prints_only_the_newer_lines(daemon: ScriptedDaemon,
                                                                 tmp_path: Path) -> None:
    now = time.time()

    def write() -> None:
        for unit, line, age in (("api", "an hour ago", 3600), ("db", "twenty minutes ago", 1200),
                                ("api", "five minutes ago", 300), ("db", "just now", 1)):
            sink = daemon.runners[unit].sink
            assert sink is not None
            sink(line, "stdout", now - age)

    daemon.call(write)
    root = tmp_path / "shop"
    every = neodev_logs(root)
    assert every.returncode == 0, every.stderr
    assert "an hour ago" in every.stdout  # all four are retained
    recent = neodev_logs(root, "--since", "10m")
    assert recent.returncode == 0, recent.stderr
    printed = [line.split(" | ", 1)[1] for line in recent.stdout.splitlines()]
    assert printed == ["five minutes ago", "just now"]
    stamp = datetime.datetime.fromtimestamp(now - 1800, datetime.UTC).isoformat()
    since_iso = neodev_logs(root, "--since", stamp, "api", "db")
    assert [line.split(" | ", 1)[1] for line in since_iso.stdout.splitlines()] == [
        "twenty minutes ago", "five minutes ago", "just now"]
    tail = neodev_logs(root, "--since", "1h", "-n", "1")
    assert [line.split(" | ", 1)[1] for line in tail.stdout.splitlines()] == ["just now"]
