"""asyncio's child watcher on pidfds (Python 3.11), for the process driver.

With it the event loop learns of a child's exit the moment it happens, in its own turn,
instead of after a `waitpid` thread wins the GIL (what 3.12 does by default).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from typing import TypeVarTuple

_Ts = TypeVarTuple("_Ts")


class PidfdChildWatcher(asyncio.AbstractChildWatcher):
    """asyncio's child watcher on pidfds, for whichever loop spawned the child (Python 3.11).

    Python 3.11's default watcher runs one thread per child that blocks in `waitpid` and hands
    the exit to the loop; that thread must first win the GIL from a busy loop, which Python
    gives up only every `sys.getswitchinterval()` (5 ms). A reload waits for the old process's
    exit before it spawns the new one, so those milliseconds were on every reload (measured:
    SIGTERM -> exit seen 3-9 ms, against 1.5-2.2 ms for a blocking `waitpid`). Here the loop
    itself waits on the child's pidfd and reaps it in its own thread. This is what Python 3.12
    does by default (`asyncio.unix_events._PidfdChildWatcher`); 3.11's own `PidfdChildWatcher`
    is bound to one loop, which a test suite that runs one loop per test cannot use.
    """

    def __init__(self) -> None:
        self._threads = asyncio.ThreadedChildWatcher()
        """For a child whose pidfd cannot be opened (out of file descriptors)."""

    def add_child_handler(self, pid: int, callback: Callable[[int, int, *_Ts], object],
                          *args: *_Ts) -> None:
        loop = asyncio.get_running_loop()
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            self._threads.add_child_handler(pid, callback, *args)
            return
        loop.add_reader(pidfd, self._reap, loop, pid, pidfd, callback, args)

    @staticmethod
    def _reap(loop: asyncio.AbstractEventLoop, pid: int, pidfd: int,
              callback: Callable[[int, int, *_Ts], object], args: tuple[*_Ts]) -> None:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        try:
            _, status = os.waitpid(pid, 0)
            code = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            code = 255  # reaped by someone else: asyncio's own answer for an unknown status
        callback(pid, code, *args)

    def remove_child_handler(self, pid: int) -> bool:
        return False  # asyncio never removes a handler of a child it still waits for

    def attach_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        pass  # any running loop: the one that spawned the child

    def close(self) -> None:
        pass

    def is_active(self) -> bool:
        return True

    def __enter__(self) -> PidfdChildWatcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass


def use_pidfd_child_watcher() -> None:
    """Install `PidfdChildWatcher` for asyncio subprocesses (Python 3.11 with pidfds); idempotent.

    Replacing the default watcher is safe at any time: children it already waits for keep
    their threads, and only children spawned afterwards are watched by pidfd.
    """
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return
    if not isinstance(asyncio.get_child_watcher(), PidfdChildWatcher):
        asyncio.set_child_watcher(PidfdChildWatcher())
