"""ProcessRunner with real child processes: spawn, output, stop of whole trees, stats, build."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from neodev.config.model import Probe, ProcessSpec
from neodev.errors import ProcessError
from neodev.process.pids import PidRegistry
from neodev.process.runner import ProcessRunner
from neodev.process.tree import become_subreaper
from neodev.protocol import Health
from tests.waiting import until_async

PY = sys.executable


@pytest.fixture(autouse=True, scope="module")
def _subreaper() -> Iterator[None]:
    # This machine's pid 1 does not reap orphans; as the daemon does, adopt them so that a tree
    # kill leaves no zombie behind (neodev/process/tree.py).
    become_subreaper(True)
    yield
    become_subreaper(False)


class Sink:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, float]] = []

    def __call__(self, line: str, stream: str, ts: float) -> None:
        self.lines.append((line, stream, ts))

    def text(self) -> list[str]:
        return [line for line, _, _ in self.lines]


def kw_resolve(value: str) -> str:
    """Stands in for the daemon's `@{service:port}` resolver: postgres is on 6543."""
    return value.replace("@{postgres:5432}", "6543")


def make(tmp_path: Path, command: tuple[str, ...], **kw: object) -> tuple[ProcessRunner, Sink]:
    sink = Sink()
    spec = ProcessSpec(name=str(kw.pop("name", "app")), cwd=Path(str(kw.pop("cwd", tmp_path))),
                       command=command, **kw)  # type: ignore[arg-type]
    runner = ProcessRunner(spec, sink, PidRegistry(tmp_path / "pids.json"),
                           resolve=kw_resolve, bind={"NEODEV_BIND_HOSTS": "127.0.0.1",
                                                     "HOST": "127.0.0.1"})
    return runner, sink


def identities(pid: int) -> list[tuple[int, float]]:
    root = psutil.Process(pid)
    return [(p.pid, p.create_time()) for p in [root, *root.children(recursive=True)]]


def still_there(ident: list[tuple[int, float]]) -> list[str]:
    """Processes of a snapshot that still exist (alive or zombie) with the same identity."""
    found = []
    for pid, ctime in ident:
        try:
            proc = psutil.Process(pid)
            if abs(proc.create_time() - ctime) < 0.05:
                found.append(f"{pid} {proc.status()} {proc.cmdline()}")
        except psutil.NoSuchProcess:
            continue
    return found


async def test_output_reaches_the_sink_with_streams_and_timestamps(tmp_path: Path) -> None:
    script = "import sys; print('hello out'); print('hello err', file=sys.stderr); sys.exit(3)"
    runner, sink = make(tmp_path, (PY, "-c", script))
    before = time.time()
    await runner.start()
    assert (await asyncio.wait_for(runner.wait_exit(), 10)) == 3
    assert ("hello out", "stdout") in [(line, s) for line, s, _ in sink.lines]
    assert ("hello err", "stderr") in [(line, s) for line, s, _ in sink.lines]
    assert all(before - 1 <= ts <= time.time() + 1 for _, _, ts in sink.lines)
    assert not (tmp_path / "logs").exists()  # the daemon writes files, after masking
    assert PidRegistry(tmp_path / "pids.json").load() == {}  # exited: forgotten


async def test_a_huge_line_is_cut_with_a_marker_and_the_next_line_survives(
        tmp_path: Path) -> None:
    script = "import sys; sys.stdout.write('x' * 3_000_000 + '\\nafter\\n')"
    runner, sink = make(tmp_path, (PY, "-c", script))
    await runner.start()
    assert (await asyncio.wait_for(runner.wait_exit(), 10)) == 0
    first, second = sink.text()
    assert first.startswith("xxxx") and len(first) < 20_000
    assert "more bytes of this line not kept" in first
    assert second == "after"


async def test_environment_and_command_resolve_port_references(tmp_path: Path) -> None:
    script = "import os, sys; print(os.environ['A'], os.environ['B'], sys.argv[1], " \
             "os.environ['NEODEV_BIND_HOSTS'])"
    runner, sink = make(tmp_path, (PY, "-c", script, "--db=@{postgres:5432}"),
                        env={"A": "spec", "B": "127.0.0.1:@{postgres:5432}"})
    await runner.start()
    await asyncio.wait_for(runner.wait_exit(), 10)
    assert sink.text() == ["spec 127.0.0.1:6543 --db=6543 127.0.0.1"]


async def test_polite_process_stops_on_sigterm_within_grace(tmp_path: Path) -> None:
    runner, _ = make(tmp_path, ("sleep", "60"))
    await runner.start()
    assert PidRegistry(tmp_path / "pids.json").load()["app"]["pid"] == runner.pid
    started = time.monotonic()
    await runner.stop(5.0)
    assert time.monotonic() - started < 2.0
    assert await runner.wait_exit() == 143  # 128 + SIGTERM
    assert PidRegistry(tmp_path / "pids.json").load() == {}
    await runner.stop(5.0)  # idempotent


async def test_sigterm_ignoring_tree_is_killed_after_grace_without_survivors(
        tmp_path: Path) -> None:
    # The leader ignores SIGTERM, has a child (sleep, inherits the ignore) and a grandchild
    # that left the process group with setsid: only the psutil snapshot can find that one.
    (tmp_path / "escape.py").write_text(textwrap.dedent("""
        import os, signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        os.setsid()
        print("escaped", os.getpid(), flush=True)
        time.sleep(60)
    """))
    script = (f"trap '' TERM; sleep 60 & {PY} escape.py & echo started; "
              "while true; do sleep 0.1; done")
    runner, sink = make(tmp_path, ("sh", "-c", script))
    await runner.start()
    await until_async(lambda: any(t.startswith("escaped") for t in sink.text()), "the escapee",
                      10)
    ident = identities(runner.pid)
    assert len(ident) >= 4, ident  # sh, sleep, python escape.py, the loop's sleep
    started = time.monotonic()
    await runner.stop(1.0)
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 8.0, elapsed
    assert await runner.wait_exit() == 137  # 128 + SIGKILL
    assert still_there(ident) == []  # neither alive nor zombie


async def test_leader_exit_takes_its_leftover_group_with_it(tmp_path: Path) -> None:
    runner, sink = make(tmp_path, ("sh", "-c", "sleep 60 & echo $!; exit 0"))
    await runner.start()
    await asyncio.wait_for(runner.wait_exit(), 10)
    child = int(sink.text()[0])
    await until_async(lambda: not psutil.pid_exists(child)
                      or psutil.Process(child).status() == psutil.STATUS_ZOMBIE, "orphan killed",
                      5, retry_on=(psutil.NoSuchProcess,))  # it may end between the two looks


async def test_restart_with_the_same_runner(tmp_path: Path) -> None:
    runner, sink = make(tmp_path, (PY, "-u", "-c", "import time; print('up'); time.sleep(60)"))
    for _ in range(2):
        await runner.start()
        await until_async(lambda: sink.text().count("up") >= 1, "output", 10)
        first_pid = runner.pid
        await runner.stop(2.0)
        assert not psutil.pid_exists(first_pid) or psutil.Process(first_pid).status() == "zombie"
        sink.lines.clear()


@pytest.mark.parametrize(("kw", "message"), [
    ({"cwd": "/nonexistent/neodev-test-dir"}, "working directory /nonexistent/neodev-test-dir "
                                              "does not exist"),
])
async def test_missing_cwd_is_named(tmp_path: Path, kw: dict[str, str], message: str) -> None:
    runner, _ = make(tmp_path, ("true",), **kw)
    with pytest.raises(ProcessError, match=message):
        await runner.start()


async def test_missing_and_non_executable_commands_are_named(tmp_path: Path) -> None:
    runner, _ = make(tmp_path, ("./gradlew", "run"))
    with pytest.raises(ProcessError, match=f"executable not found: {tmp_path}/gradlew"):
        await runner.start()
    (tmp_path / "gradlew").write_text("#!/bin/sh\n")
    with pytest.raises(ProcessError, match=f"not executable: {tmp_path}/gradlew"):
        await runner.start()
    runner, _ = make(tmp_path, ("neodev-no-such-program-xyz",))
    with pytest.raises(ProcessError, match="'neodev-no-such-program-xyz' not found on PATH"):
        await runner.start()
    with pytest.raises(ProcessError, match="before start"):
        await runner.wait_exit()


async def test_stats_cover_the_whole_tree(tmp_path: Path) -> None:
    script = ("import subprocess, sys, time; "
              "subprocess.Popen([sys.executable, '-c', 'x = bytearray(30_000_000); "
              "import time; time.sleep(60)']); "
              "t = time.time() + 60\nwhile time.time() < t: pass")  # busy: CPU > 0
    runner, _ = make(tmp_path, (PY, "-c", script))
    assert await runner.stats() is None
    await runner.start()
    try:
        await until_async(lambda: len(psutil.Process(runner.pid).children()) == 1, "the child",
                          10)
        await asyncio.sleep(0.3)
        first = await runner.stats()
        await asyncio.sleep(0.5)
        second = await runner.stats()
        assert first is not None and second is not None
        root_rss = psutil.Process(runner.pid).memory_info().rss
        assert second.memory_bytes > root_rss + 25_000_000  # the child's 30 MB are counted
        assert second.cpu_percent > 10.0
    finally:
        await runner.stop(2.0)
    assert await runner.stats() is None


async def test_log_line_readiness_is_fed_from_output(tmp_path: Path) -> None:
    script = "import time; time.sleep(0.3); print('Server listening on 8080', flush=True); " \
             "time.sleep(60)"
    runner, sink = make(tmp_path, (PY, "-c", script),
                        readiness=Probe(kind="log", pattern=r"listening on \d+"))
    await runner.start()
    try:
        report = await runner.health()
        assert report.health is Health.STARTING
        assert "no output yet" in report.detail
        await until_async(lambda: bool(sink.text()), "the line", 5)
        report = await runner.health()
        assert report.health is Health.HEALTHY, report
    finally:
        await runner.stop(2.0)
    assert (await runner.health()).health is Health.UNHEALTHY


async def test_build_success_failure_and_timeout(tmp_path: Path) -> None:
    runner, _ = make(tmp_path, ("true",), build=("sh", "-c", "echo compiling; echo ok >&2"))
    result = await runner.build()
    assert result.ok and "compiling" in result.output and "ok" in result.output
    runner, _ = make(tmp_path, ("true",), build=("sh", "-c", "echo 'e: Main.kt:3 boom'; exit 2"))
    result = await runner.build()
    assert not result.ok and "Main.kt:3 boom" in result.output and "code 2" in result.output
    runner, _ = make(tmp_path, ("true",), build=("sh", "-c", "sleep 30"))
    runner.build_timeout = 0.5
    started = time.monotonic()
    result = await runner.build()
    assert not result.ok and "killed after" in result.output
    assert time.monotonic() - started < 5
    runner, _ = make(tmp_path, ("true",), build=("no-such-build-tool-xyz",))
    result = await runner.build()
    assert not result.ok and "cannot run build" in result.output
    runner, _ = make(tmp_path, ("true",))
    assert (await runner.build()).ok


def test_exit_code_convention() -> None:
    from neodev.process.runner import exit_code
    assert exit_code(0) == 0
    assert exit_code(3) == 3
    assert exit_code(-15) == 143
    assert exit_code(-9) == 137
    assert os.WIFEXITED  # the convention mirrors the shell's $?


async def test_a_running_process_does_not_wake_the_event_loop(tmp_path: Path) -> None:
    """Its exit is awaited on a pidfd: an idle daemon sleeps (no exit poll every 250 ms)."""
    runner, _ = make(tmp_path, (PY, "-c", "import time; time.sleep(30)"))
    await runner.start()
    selector = asyncio.get_running_loop()._selector  # type: ignore[attr-defined]
    real_select = selector.select
    wakes: list[float] = []

    def counting_select(timeout: float | None = None) -> Any:
        events = real_select(timeout)
        wakes.append(time.monotonic())
        return events

    try:
        await asyncio.sleep(0.3)  # the start's own callbacks are done
        selector.select = counting_select
        await asyncio.sleep(1.5)
    finally:
        selector.select = real_select
        await runner.stop(5)
    # The sleep above is one wake-up (its timer), the stop's own are not counted.
    assert len(wakes) <= 2, f"{len(wakes)} wake-ups in 1.5 s while nothing happened"
