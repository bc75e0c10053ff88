"""neodev.command against real processes: output, exit status, and the whole group killed at
the time limit (no grandchild left behind, output kept)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import psutil
import pytest

from neodev.command import run_command, run_command_blocking
from tests.waiting import until

SPAWN_AND_HANG = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print(child.pid, flush=True)
print("partial", file=sys.stderr, flush=True)
time.sleep(60)
"""


async def test_output_exit_status_cwd_env_and_stdin(tmp_path: Path) -> None:
    script = ("import os, sys; data = sys.stdin.read(); print(os.getcwd(), os.environ['X'], "
              "data); print('oops', file=sys.stderr); sys.exit(3)")
    done = await run_command([sys.executable, "-c", script], timeout=10, cwd=tmp_path,
                             env={**os.environ, "X": "y"}, stdin=b"fed")
    assert done.returncode == 3 and not done.timed_out
    assert done.output.split() == [str(tmp_path), "y", "fed"]
    assert done.stderr == b"oops\n"
    merged = await run_command([sys.executable, "-c", script], timeout=10, cwd=tmp_path,
                               env={**os.environ, "X": "y"}, merge_stderr=True)
    assert merged.stderr == b"" and "oops" in merged.output


async def test_the_whole_group_is_killed_at_the_time_limit() -> None:
    started = time.monotonic()
    done = await run_command([sys.executable, "-c", SPAWN_AND_HANG], timeout=1.0)
    assert done.timed_out and done.returncode is None
    assert time.monotonic() - started < 5, "the kill did not end the wait"
    assert b"partial" in done.stderr, "what it printed before the kill was lost"
    grandchild = int(done.output.split()[0])
    until(lambda: not psutil.pid_exists(grandchild)  # the kernel ends it at once
          or psutil.Process(grandchild).status() == psutil.STATUS_ZOMBIE,
          f"the end of the grandchild {grandchild} (the group kill)", 2,
          retry_on=(psutil.NoSuchProcess,))  # it may end between the two looks


async def test_a_missing_program_is_an_oserror() -> None:
    with pytest.raises(FileNotFoundError):
        await run_command(["/nonexistent/neodev-no-such-program"], timeout=5)


def test_blocking_form_without_an_event_loop() -> None:
    done = run_command_blocking([sys.executable, "-c", "print('hi')"], timeout=10)
    assert (done.returncode, done.output) == (0, "hi\n")
    killed = run_command_blocking([sys.executable, "-c", SPAWN_AND_HANG], timeout=0.5)
    assert killed.timed_out and b"partial" in killed.stderr
