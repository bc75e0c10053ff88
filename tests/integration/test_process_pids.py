"""PidRegistry and reap_orphans: what a crashed daemon left running is cleaned up safely."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from neodev.process.pids import PidRegistry, reap_orphans
from neodev.process.tree import become_subreaper
from tests.waiting import until

PY = sys.executable


@pytest.fixture(autouse=True, scope="module")
def _subreaper() -> Iterator[None]:
    become_subreaper(True)  # orphans of the 'crashed daemon' become ours to reap (no zombies)
    yield
    become_subreaper(False)


def gone(pid: int, ctime: float) -> bool:
    try:
        proc = psutil.Process(pid)
        return abs(proc.create_time() - ctime) > 0.05
    except psutil.NoSuchProcess:
        return True


def test_registry_round_trip_and_atomic_file(tmp_path: Path) -> None:
    reg = PidRegistry(tmp_path / "state" / "pids.json")
    assert reg.load() == {}
    reg.record("backend", 10, 10, 123.5, ("./gradlew", "run"))
    reg.record("router", 11, 11, 124.5, ["./router"])
    assert reg.load()["backend"] == {"pid": 10, "pgid": 10, "create_time": 123.5,
                                     "command": ["./gradlew", "run"]}
    reg.remove("backend")
    assert list(reg.load()) == ["router"]
    assert [p.name for p in (tmp_path / "state").iterdir()] == ["pids.json"]  # no temp leftovers
    (tmp_path / "state" / "pids.json").write_text("{not json")
    assert reg.load() == {}


def test_reap_orphans_kills_the_group_of_a_sigkilled_daemon(tmp_path: Path) -> None:
    # A real 'daemon': starts a process tree through ProcessRunner, then is SIGKILLed.
    daemon = tmp_path / "daemon.py"
    daemon.write_text(textwrap.dedent(f"""
        import asyncio, sys, time
        from pathlib import Path
        from neodev.config.model import ProcessSpec
        from neodev.process.pids import PidRegistry
        from neodev.process.runner import ProcessRunner

        async def main():
            spec = ProcessSpec(name="backend", cwd=Path({str(tmp_path)!r}),
                               command=("sh", "-c", "trap '' TERM; sleep 60 & sleep 61"))
            runner = ProcessRunner(spec, lambda *a: None,
                                   PidRegistry(Path({str(tmp_path)!r}) / "pids.json"))
            await runner.start()
            print(runner.pid, flush=True)
            await asyncio.sleep(60)

        asyncio.run(main())
    """))
    env = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([PY, str(daemon)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        leader = int(proc.stdout.readline())  # type: ignore[union-attr]
        until(lambda: psutil.Process(leader).children(), "the two processes of the unit", 5,
              ok=lambda children: len(children) >= 2)
        tree = [psutil.Process(leader), *psutil.Process(leader).children(recursive=True)]
        idents = [(p.pid, p.create_time()) for p in tree]
        assert len(idents) == 3
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        proc.stdout.close()  # type: ignore[union-attr]
    assert all(not gone(*i) for i in idents)  # the daemon died, its processes did not

    registry = PidRegistry(tmp_path / "pids.json")
    assert registry.load()["backend"]["pid"] == leader
    started = time.monotonic()
    messages = reap_orphans(registry, grace=0.5)
    assert messages == [f"backend: killed process group {leader} "
                        "(sh -c trap '' TERM; sleep 60 & sleep 61)"]
    assert time.monotonic() - started < 8
    until(lambda: [i for i in idents if not gone(*i)], "the orphans gone", 5,
          ok=lambda left: not left)
    assert registry.load() == {}


def test_reap_orphans_refuses_a_pid_whose_create_time_differs(tmp_path: Path) -> None:
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        ctime = psutil.Process(proc.pid).create_time()
        registry = PidRegistry(tmp_path / "pids.json")
        # The record says this pid started 100 s earlier: it is a reused pid, not ours.
        registry.record("backend", proc.pid, proc.pid, ctime - 100, ["./gradlew", "run"])
        messages = reap_orphans(registry, grace=0.2)
        assert messages == [f"backend: pid {proc.pid} now belongs to another process "
                            "(started later); left alone"]
        assert proc.poll() is None and psutil.Process(proc.pid).status() != "zombie"
        assert registry.load() == {}
    finally:
        proc.kill()
        proc.wait(5)


def test_reap_orphans_kills_group_members_whose_leader_is_gone(tmp_path: Path) -> None:
    proc = subprocess.Popen(["sh", "-c", "sleep 60 & echo $!"], start_new_session=True,
                            stdout=subprocess.PIPE, text=True)
    ctime = psutil.Process(proc.pid).create_time()
    child = int(proc.stdout.readline())  # type: ignore[union-attr]
    child_ident = (child, psutil.Process(child).create_time())
    proc.wait(5)  # the leader exits; its child stays in the group
    proc.stdout.close()  # type: ignore[union-attr]
    registry = PidRegistry(tmp_path / "pids.json")
    registry.record("router", proc.pid, proc.pid, ctime, ["./router"])
    messages = reap_orphans(registry, grace=0.5)
    assert messages == [f"router: killed process group {proc.pid} (./router)"]
    until(lambda: gone(*child_ident), "the group member gone", 5)


def test_reap_orphans_with_nothing_left(tmp_path: Path) -> None:
    proc = subprocess.Popen(["true"], start_new_session=True)
    ctime = psutil.Process(proc.pid).create_time()
    proc.wait(5)
    registry = PidRegistry(tmp_path / "pids.json")
    registry.record("frontend", proc.pid, proc.pid, ctime, ["npm", "run", "dev"])
    assert reap_orphans(registry) == [f"frontend: process group {proc.pid} already gone"]
