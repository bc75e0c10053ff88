"""Shared pieces of the benchmarks: free ports, order statistics, bounded waits, clean-up.

Not a benchmark itself. Every script in benchmarks/ prints its figures as ratios against a
baseline measured in the same run; the helpers here keep the arithmetic and the clean-up the
same everywhere.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import textwrap
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
# The benchmarks' instances go into a machine registry of their own (every neodev they run
# inherits it): their workspaces are scratch directories, deleted at the end, and would stay
# in the developer's `neodev instances` as orphans. Set NEODEV_STATE_HOME to choose it.
os.environ.setdefault("NEODEV_STATE_HOME", tempfile.mkdtemp(prefix="neodev-bench-state-"))

POSTGRES_IMAGE = "neodev-test/postgres:15"
PROMETHEUS_IMAGE = "neodev-test/prometheus:2.42"
"""The local test images (tests/constants.py), built by `bash tests/run.sh`."""


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


def compose_workspace(root: Path, project: str, extra_profile: str = ""
                      ) -> tuple[Path, dict[str, str]]:
    """A scratch workspace on the repository's compose file: compose/ copied with only its
    published host ports changed to free ones, a profile naming it (plus `extra_profile`), a
    `.env` with the passwords and the test images. Returns the compose file and the environment
    for commands run in it (NEODEV_WORKSPACE set)."""
    shutil.copytree(ROOT / "compose", root / "compose")
    compose_file = root / "compose" / "docker-compose.local.yml"
    text = compose_file.read_text()
    published = re.findall(r'"127\.0\.0\.1:(\d+):(\d+)"', text)
    for (host, container), port in zip(published, free_ports(len(published)), strict=True):
        text = text.replace(f'"127.0.0.1:{host}:{container}"', f'"127.0.0.1:{port}:{container}"')
    compose_file.write_text(text)
    (root / "profiles").mkdir()
    (root / "profiles" / "local.toml").write_text(textwrap.dedent(f"""\
        [project]
        name = "{project}"
        compose = ["../compose/docker-compose.local.yml"]
        env_file = "../.env"

        [services.grafana]
        optional = true

        [services.loki]
        optional = true
        """) + extra_profile)
    secret = uuid.uuid4().hex
    variables = {"POSTGRES_PASSWORD": f"pg-{secret[:16]}",
                 "GRAFANA_ADMIN_PASSWORD": f"gf-{secret[16:]}",
                 "NEODEV_POSTGRES_IMAGE": POSTGRES_IMAGE,
                 "NEODEV_PROMETHEUS_IMAGE": PROMETHEUS_IMAGE}
    (root / ".env").write_text("".join(f"{k}={v}\n" for k, v in variables.items()))
    (root / ".neodev" / "prometheus" / "targets").mkdir(parents=True)
    env = {**os.environ, **variables, "NEODEV_WORKSPACE": str(root), "NO_COLOR": "1"}
    env.pop("COMPOSE_PROJECT_NAME", None)
    return compose_file, env


def kill_daemon(ws: Path) -> bool:
    """SIGKILL the workspace's neodev daemon if one is left, only when the pid's create time
    matches its status file (never another process); True if one was killed."""
    import json

    with contextlib.suppress(OSError, ValueError, KeyError, psutil.Error):
        info = json.loads((ws / ".neodev" / "daemon.json").read_text())
        proc = psutil.Process(info["pid"])
        if abs(proc.create_time() - info["create_time"]) < 0.01:
            proc.kill()
            return True
    return False
