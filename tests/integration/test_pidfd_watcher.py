"""asyncio's child watcher on pidfds (neodev/pidfd.py): exits seen by the loop, no thread each.

Real child processes. Python 3.11's default watcher starts an `asyncio-waitpid-N` thread per
child; with ours, no such thread exists while a child runs, and exit codes (a plain exit, a
signal) arrive as asyncio reports them. When a pidfd cannot be opened the watcher falls back
to a thread.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading

import pytest

from neodev.process.childwatch import PidfdChildWatcher, use_pidfd_child_watcher

pytestmark = pytest.mark.skipif(sys.version_info >= (3, 12),
                                reason="Python 3.12+ watches children by pidfd itself")


def _waitpid_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("asyncio-waitpid-")]


async def _spawn(code: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(sys.executable, "-c", code)


async def test_children_are_reaped_by_the_loop_with_their_exit_codes() -> None:
    use_pidfd_child_watcher()
    assert isinstance(asyncio.get_child_watcher(), PidfdChildWatcher)
    sleeper = await _spawn("import time; time.sleep(30)")
    assert _waitpid_threads() == []  # the fallback case below shows what a thread looks like
    sleeper.send_signal(signal.SIGTERM)
    exiting = await _spawn("raise SystemExit(3)")
    assert await asyncio.wait_for(sleeper.wait(), 10) == -signal.SIGTERM
    assert await asyncio.wait_for(exiting.wait(), 10) == 3


async def test_without_a_pidfd_a_thread_waits_instead(monkeypatch: pytest.MonkeyPatch) -> None:
    use_pidfd_child_watcher()

    def no_pidfd(pid: int, flags: int = 0) -> int:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(os, "pidfd_open", no_pidfd)
    child = await _spawn("import time; time.sleep(0.2); raise SystemExit(5)")
    assert len(_waitpid_threads()) == 1
    assert await asyncio.wait_for(child.wait(), 10) == 5
