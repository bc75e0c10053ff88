"""Process trees with psutil: snapshot, group + tree kill, reaping, CPU/RSS sampling.

Everything here blocks (psutil, sleeps): callers run it in a thread (`asyncio.to_thread`).
Identity is always `(pid, create_time)` — psutil's `Process` checks it before signalling, so a
reused pid is never hit (reference §4).

Zombies: a grandchild orphaned by a tree kill is re-parented to the nearest "child subreaper",
else to pid 1. Where pid 1 does not reap (some container inits), those orphans would stay
zombies, so the daemon may call `become_subreaper()` once: orphans of its process trees then
become its own children, and `kill_tree` reaps them by pid (never with waitpid(-1), which would
steal the exit status of the processes asyncio waits for).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys

import psutil

from neodev.command import KILL_WAIT, signal_group
from neodev.timing import poll_until

_PR_SET_CHILD_SUBREAPER = 36
_POLL = 0.05
"""Seconds between liveness checks of a tree being killed."""


CREATE_TIME_TOLERANCE = 0.05
"""Seconds two create times of the same process may differ by: psutil reads them from /proc
with jiffy resolution, a different process started in another jiffy."""


def is_alive(pid: int, create_time: float, tolerance: float = CREATE_TIME_TOLERANCE) -> bool:
    """True while the process `pid` that was created at `create_time` still runs.

    A pid reused by a later process does not count: the identity is (pid, create time), the
    times compared within `tolerance` seconds.
    """
    try:
        proc = psutil.Process(pid)
        same = abs(proc.create_time() - create_time) <= tolerance
        return bool(same and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:  # ZombieProcess included: it has ended
        return False
    except psutil.AccessDenied:
        return True  # it exists, only its details are hidden: never treat it as gone


def become_subreaper(enable: bool = True) -> bool:
    """Make this process the reaper of its descendants' orphans (Linux only).

    Args:
        enable: False gives the role back (orphans go to pid 1 again).

    Returns:
        True when the kernel accepted it.
    """
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, int(enable), 0, 0, 0) == 0)


def snapshot(pid: int) -> list[psutil.Process]:
    """The process and all its descendants (deepest last), or [] when it is gone.

    Take it BEFORE signalling: once a parent exits its children are re-parented and drop out
    of its tree.
    """
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def group_members(pgid: int, not_before: float | None = None) -> list[psutil.Process]:
    """Processes whose process group is `pgid` (optionally created no earlier than a time)."""
    found: list[psutil.Process] = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) != pgid:
                continue
            if not_before is not None and proc.create_time() < not_before - 0.01:
                continue
            found.append(proc)
        except (psutil.NoSuchProcess, ProcessLookupError, psutil.AccessDenied):
            continue
    return found


def _alive(proc: psutil.Process) -> bool:
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def reap(procs: list[psutil.Process]) -> None:
    """Collect the exit status of those of `procs` that are our own (adopted) zombies."""
    me = os.getpid()
    for proc in procs:
        try:
            if proc.ppid() != me:
                continue
        except psutil.NoSuchProcess:
            continue
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(proc.pid, os.WNOHANG)


def kill_tree(pgid: int | None, procs: list[psutil.Process], grace: float,
              exclude_wait: int | None = None) -> list[psutil.Process]:
    """SIGTERM the group, wait up to `grace`, then SIGKILL the group and every survivor.

    Args:
        pgid: The process group to signal (None: signal only `procs`).
        procs: Snapshot of the tree, taken before any signal.
        grace: Seconds between SIGTERM and SIGKILL.
        exclude_wait: A pid asyncio reaps itself (our direct child): it is signalled but never
            waited on or reaped here.

    Returns:
        The processes still alive after SIGKILL and a short wait (should be empty).
    """
    if pgid is not None:
        signal_group(pgid, signal.SIGTERM)
    for proc in procs:  # processes that left the group (setsid) still get the signal
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            proc.send_signal(signal.SIGTERM)
    others = [p for p in procs if p.pid != exclude_wait]

    def gone() -> bool:
        reap(others)
        return not any(_alive(p) for p in procs)

    poll_until(gone, grace, _POLL)
    if pgid is not None:
        signal_group(pgid, signal.SIGKILL)
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            if _alive(proc):
                proc.kill()
    poll_until(gone, KILL_WAIT, _POLL)
    return [p for p in procs if _alive(p)]


def send(pgid: int | None, procs: list[psutil.Process], sig: int) -> None:
    """Signal the group and every process of a snapshot (those that left the group too)."""
    if pgid is not None:
        signal_group(pgid, sig)
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            proc.send_signal(sig)


def wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until the processes have ended (blocking, at most `timeout` s); the survivors.

    psutil waits on a pidfd where the kernel has them (no polling): the caller is woken the
    moment the last one ends. Zombies of ours (re-parented orphans) are reaped on the way.
    Never pass a process asyncio waits for (the runner's direct child): reaping it here would
    steal its exit status.
    """
    if not procs:
        return []
    _, alive = psutil.wait_procs(procs, timeout=max(timeout, 0.0))
    return [p for p in alive if _alive(p)]


class TreeSampler:
    """CPU % and RSS of a process tree, keeping `Process` objects between polls.

    `cpu_percent()` compares with the previous call on the same object, so objects are cached
    by (pid, create_time); a process's first sample counts as 0 %.
    """

    def __init__(self) -> None:
        self._cache: dict[tuple[int, float], psutil.Process] = {}

    def sample(self, pid: int) -> tuple[float, int] | None:
        """(cpu percent summed over the tree, RSS bytes summed), or None when `pid` is gone."""
        try:
            root = psutil.Process(pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            self._cache.clear()
            return None
        cpu, rss = 0.0, 0
        seen: dict[tuple[int, float], psutil.Process] = {}
        for proc in tree:
            try:
                key = (proc.pid, proc.create_time())
                cached = self._cache.get(key, proc)
                with cached.oneshot():
                    cpu += cached.cpu_percent(None)
                    rss += cached.memory_info().rss
                seen[key] = cached
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        self._cache = seen
        return cpu, rss
