"""Shared pieces of the benchmarks: free ports, order statistics, bounded waits, clean-up.

Not a benchmark itself. Every script in benchmarks/ prints its figures as ratios against a
baseline measured in the same run; the helpers here keep the arithmetic and the clean-up the
same everywhere.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil


def free_ports(count: int) -> list[int]:
    """`count` distinct free TCP ports on 127.0.0.1 (held together while chosen)."""
    held = [socket.socket() for _ in range(count)]
    try:
        for s in held:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of `values`, linear between order statistics."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass(frozen=True)
class Summary:
    """Order statistics of one series (same unit as the values)."""

    n: int
    min: float
    median: float
    p90: float
    max: float
    iqr: float
    """Spread: the interquartile range (p75 - p25)."""

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        return cls(len(values), min(values), statistics.median(values), quantile(values, 0.9),
                   max(values), quantile(values, 0.75) - quantile(values, 0.25))

    def ms(self) -> str:
        """One line in milliseconds (values in seconds)."""
        return (f"min {self.min * 1e3:7.1f}  median {self.median * 1e3:7.1f}  "
                f"p90 {self.p90 * 1e3:7.1f}  IQR {self.iqr * 1e3:6.1f}  "
                f"max {self.max * 1e3:7.1f} ms  (n={self.n})")

    def s(self) -> str:
        """One line in seconds."""
        return (f"min {self.min:6.2f}  median {self.median:6.2f}  p90 {self.p90:6.2f}  "
                f"IQR {self.iqr:5.2f}  max {self.max:6.2f} s  (n={self.n})")


def ratio(a: float, b: float) -> str:
    return f"{a / b:5.2f}x" if b > 0 else "  n/a"


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll `predicate` until it is true or `timeout` seconds pass (bounded in time and count)."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / max(interval, 1e-4)) + 2):
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return predicate()


def stop_group(proc: subprocess.Popen[bytes] | subprocess.Popen[str], grace: float = 10.0,
               sig: int = signal.SIGTERM) -> None:
    """Signal the process group of `proc` (spawned with start_new_session=True), SIGKILL it
    after `grace` seconds; never raises."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of the group
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


def kill_strays(root: Path) -> list[int]:
    """SIGKILL processes of this user whose working directory is inside `root` (what a
    benchmark started there and lost track of); returns their pids."""
    root = root.resolve()
    me = os.getpid()
    killed = []
    for proc in psutil.process_iter(["pid", "uids"]):
        try:
            if proc.pid == me or proc.info["uids"] is None \
                    or proc.info["uids"].real != os.getuid():
                continue
            cwd = Path(proc.cwd())
            if cwd == root or root in cwd.parents:
                proc.kill()
                killed.append(proc.pid)
        except (psutil.Error, OSError):
            continue
    return killed
