"""Where a workspace's runtime state lives.

Everything neodev writes at run time goes under `<workspace>/.neodev/`: the daemon's control
socket, its pid/status file, unit log files, generated secrets, cluster renders and the
Prometheus target files. Nothing is written to tracked files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

STATE_DIR_NAME = ".neodev"
SOCKET_PATH_MAX = 107
"""Bytes a Unix socket's path may have on Linux (sun_path holds 108 with its NUL)."""
WORKSPACE_MARKERS = ("profiles", "pyproject.toml", ".env")


@dataclass(frozen=True)
class WorkspacePaths:
    """Paths of one workspace's runtime state."""

    root: Path

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR_NAME

    @property
    def socket(self) -> Path:
        """The daemon's control socket: `.neodev/daemon.sock`, or, when that path is too long
        for a Unix socket (a worktree deep in a home directory), a name derived from the state
        directory in the user's runtime directory. Clients read it from the status file."""
        local = self.state_dir / "daemon.sock"
        if len(os.fsencode(local)) <= SOCKET_PATH_MAX:
            return local
        import hashlib  # here: every short command imports this module, few need it

        digest = hashlib.sha256(os.fsencode(os.path.abspath(self.state_dir))).hexdigest()
        return runtime_dir() / f"{digest[:24]}.sock"

    @property
    def status_file(self) -> Path:
        return self.state_dir / "daemon.json"

    @property
    def lock_file(self) -> Path:
        return self.state_dir / "daemon.lock"

    @property
    def startup_error_file(self) -> Path:
        """Why the last daemon could not start (read once by the command that spawned it)."""
        return self.state_dir / "startup-error.json"

    @property
    def daemon_log(self) -> Path:
        return self.state_dir / "daemon.log"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def pids_file(self) -> Path:
        return self.state_dir / "pids.json"

    @property
    def project_file(self) -> Path:
        """The compose project the last daemon ran (so `down` finds it without a profile)."""
        return self.state_dir / "project"

    @property
    def instance_file(self) -> Path:
        """Which instance this workspace is: its name, its ports (neodev.instances)."""
        return self.state_dir / "instance.json"

    @property
    def secrets_file(self) -> Path:
        return self.state_dir / "secrets.env"

    @property
    def cluster_dir(self) -> Path:
        return self.state_dir / "cluster"

    def ensure_state_dir(self) -> Path:
        """Create `.neodev/` (mode 0700: it holds the socket and generated secrets)."""
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self.state_dir


def find_workspace(start: Path | None = None) -> Path:
    """The workspace root: $NEODEV_WORKSPACE, else the nearest directory with a `profiles/` dir.

    Falls back to the starting directory, so `neodev` run anywhere still has a place for state.
    """
    env = os.environ.get("NEODEV_WORKSPACE")
    if env:
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "profiles").is_dir():
            return candidate
    return here


def runtime_dir() -> Path:
    """The user's private directory for sockets too deep to live in their workspace:
    `$XDG_RUNTIME_DIR/neodev` (short, per user, on tmpfs), else `/tmp/neodev-UID`."""
    base = os.environ.get("XDG_RUNTIME_DIR", "")
    if base.startswith("/") and len(os.fsencode(base)) <= 48:
        return Path(base) / "neodev"
    return Path(f"/tmp/neodev-{os.getuid()}")
