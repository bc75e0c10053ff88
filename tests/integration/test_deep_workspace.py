"""A workspace deeper than a Unix socket's path allows (107 bytes on Linux) still gets its daemon.

Worktrees live deep (`~/src/org/repo/.worktrees/agent-feature-x/...`), and the control socket
`.neodev/daemon.sock` would not fit: the daemon then binds it in the user's runtime directory
under a name derived from the workspace, announces it in `.neodev/daemon.json`, and removes it
when it stops. Through the real CLI and daemon.
"""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

from neodev.paths import SOCKET_PATH_MAX, WorkspacePaths
from tests.integration.stack_workspace import NeodevCLI, StackWorkspace

IDLE = "import time; print('idle up', flush=True); time.sleep(600)"


def deep_workspace(tmp_path: Path, name: str) -> Path:
    root = tmp_path / ("d" * 60) / ("e" * 60) / name
    (root / "profiles").mkdir(parents=True)
    (root / "profiles" / "local.toml").write_text(textwrap.dedent(f"""\
        [project]
        name = "ndeep{os.getpid()}{name}"

        [processes.idle]
        cwd = "."
        command = ["{sys.executable}", "-c", "{IDLE}"]
        readiness = {{ log = "idle up" }}
        """))
    return root


def test_a_daemon_of_a_deep_workspace_binds_its_socket_in_the_runtime_directory(
        tmp_path: Path) -> None:
    roots = [deep_workspace(tmp_path, "one"), deep_workspace(tmp_path, "two")]
    clis = [NeodevCLI(StackWorkspace(root=root, project="", ports={})) for root in roots]
    try:
        for cli in clis:
            started = cli("start", "--wait", "--timeout", "60")
            assert started.code == 0, started.err + started.out
        sockets = [Path(info["socket"]) for info in (cli.daemon_info() or {} for cli in clis)]
        for root, sock in zip(roots, sockets, strict=True):
            assert len(os.fsencode(root / ".neodev" / "daemon.sock")) > SOCKET_PATH_MAX
            assert sock == WorkspacePaths(root).socket and sock.is_socket()
            assert not sock.is_relative_to(root) and len(os.fsencode(sock)) <= SOCKET_PATH_MAX
            assert sock.parent.stat().st_mode & 0o777 == 0o700
        assert sockets[0] != sockets[1], "two workspaces share one socket"
        status = clis[0]("status")
        assert status.code == 0 and "idle" in status.out, status.err + status.out
        assert clis[0]("stop").code == 0
        assert not sockets[0].exists(), "a stopped daemon left its socket behind"
        assert clis[1]("status").code == 0, "stopping one daemon touched the other"
    finally:
        for cli in clis:
            cli.cleanup()
