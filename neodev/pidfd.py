"""Wait for a process to end without polling: a Linux pidfd (Linux 5.3+).

A pidfd becomes readable the moment its process terminates (zombie or not), so a waiter can
sleep in `poll`/the event loop until then instead of checking every few milliseconds. Where
there are none (other systems, old kernels), callers fall back to polling.
"""

from __future__ import annotations

import os


def open_pidfd(pid: int) -> int | None:
    """A pidfd for `pid` (close it after use), or None: no pidfds here, or the pid is gone."""
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is None:
        return None
    try:
        return int(pidfd_open(pid))
    except OSError:
        return None
