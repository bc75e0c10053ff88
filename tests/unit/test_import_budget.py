"""The CLI's start-up budget, guarded by counting modules, not milliseconds.

The short commands (`--version`, `status`, `status --json`, `logs -n 10`) must answer in well
under 100 ms (issue "Fast where people feel it"); most of what they pay today is importing
packages they do not need. Each case below runs in a fresh interpreter (`-X importtime`, and
`sys.modules` dumped at exit) and must not have loaded any package of FORBIDDEN. When one is
there, the message names the chain of imports that brought it in, so the fix is obvious.

`status` and `logs` run their real code path against a stand-in daemon: a stdlib HTTP server on
a Unix socket in this process, announced in `.neodev/daemon.json` exactly as the daemon does,
answering `/v1/status` and `/v1/logs` with records built by `neodev.protocol`.

The control that the test can fail: `import neodev.config.model` (which must import pydantic)
is checked the same way and must show the leak with its chain.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import socketserver
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from neodev.paths import WorkspacePaths
from neodev.protocol import LogRecord, UnitRecord, UnitState, encode
from neodev.rendezvous import DaemonInfo, DaemonLock, write_info
from tests.constants import REPO_ROOT
from tests.importchain import Loaded, import_errors

FORBIDDEN = ("pydantic", "httpx", "docker", "starlette", "uvicorn", "textual", "yaml", "mcp",
             "mcp_types")
"""Packages no short command may import: the one list this test checks."""

CASES: dict[str, tuple[str, list[str]]] = {
    "import neodev.entry": ("import", ["neodev.entry"]),
    "import neodev.cli": ("import", ["neodev.cli"]),
    "neodev --version": ("run", ["--version"]),
    "neodev status": ("run", ["status"]),
    "neodev status --json": ("run", ["status", "--json"]),
    "neodev logs -n 10": ("run", ["logs", "-n", "10"]),
}
"""Case -> (import a module | run the console entry point with these arguments)."""

PROBE = """\
import atexit, json, sys
out, mode, args = sys.argv[1], sys.argv[2], sys.argv[3:]
def dump():  # loaded modules only: a None entry blocks an import (neodev/daemon/__init__.py)
    with open(out, "w") as f:
        json.dump(sorted(n for n, m in sys.modules.items() if m is not None), f)
atexit.register(dump)
if mode == "import":
    __import__(args[0])  # the import statement's path: -X importtime reports only that one
else:
    sys.argv = ["neodev", *args]
    from neodev.entry import main
    main()
"""


class _StandIn(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    workspace = ""

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/v1/status":
            units = [encode(UnitRecord(name="app", kind="process", state=UnitState.RUNNING))]
            body = {"protocol": 1, "instance": "standin", "seq": 1, "profile": "local",
                    "project": "budget", "workspace": self.workspace, "units": units,
                    "reaped_orphans": [], "clusters": {}, "telemetry": {}, "volumes": [],
                    "jobs": []}
        elif path == "/v1/logs":
            line = LogRecord(id=1, unit="app", ts=0.0, stream="stdout", line="hello")
            body = {"lines": [encode(line)], "last_id": 1, "more": False}
        else:
            self.send_error(404)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@contextlib.contextmanager
def stand_in_daemon() -> Iterator[Path]:
    """A workspace whose `.neodev/daemon.json` points at a stand-in API in this process."""
    with tempfile.TemporaryDirectory(prefix="nib-") as name:  # short: sockets max 107 bytes
        ws = Path(name)
        (ws / "profiles").mkdir()
        state = ws / ".neodev"
        state.mkdir(mode=0o700)
        sock = state / "daemon.sock"
        handler = type("Handler", (_StandIn,), {"workspace": str(ws)})
        server = _Server(str(sock), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        # announced as the daemon does: its lock held (by this process), then its status file
        paths = WorkspacePaths(ws)
        lock = DaemonLock(paths)
        assert lock.try_acquire()
        write_info(paths, DaemonInfo(pid=os.getpid(), create_time=0.0, socket=str(sock),
                                     profile="local", workspace=str(ws), started_at=0.0,
                                     version="0"))
        try:
            yield ws
        finally:
            lock.release()
            server.shutdown()
            server.server_close()


@functools.cache
def loaded(case: str) -> Loaded:
    """What one case imports, in a fresh interpreter (run once per case per session)."""
    mode, args = CASES[case]
    with stand_in_daemon() as ws, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "modules.json"
        env = {**os.environ, "NEODEV_WORKSPACE": str(ws), "NO_COLOR": "1",
               "PYTHONPATH": str(REPO_ROOT)}
        proc = subprocess.run([sys.executable, "-X", "importtime", "-c", PROBE, str(out), mode,
                               *args], cwd=ws, env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 0, (f"{case} exited {proc.returncode}, so its code path was "
                                      f"not measured:\n" + "\n".join(
                                          import_errors(proc.stderr)[-30:]))
        return Loaded.read(json.loads(out.read_text()), proc.stderr)


def _params() -> list[Any]:
    params: list[Any] = []
    for case in CASES:
        for package in FORBIDDEN:
            params.append(pytest.param(case, package, id=f"{case}-{package}"))
    return params


@pytest.mark.parametrize(("case", "package"), _params())
def test_short_command_does_not_import(case: str, package: str) -> None:
    found = loaded(case)
    leaked = found.has(package)
    assert not leaked, (f"{case} imported {package} ({len(leaked)} modules) through "
                        f"{found.chain(package)}; the short commands must not pay for it "
                        f"(FORBIDDEN in {Path(__file__).name})")


def test_the_stand_in_daemon_is_really_asked() -> None:
    """The status case runs its whole code path: the table names the stand-in's unit."""
    with stand_in_daemon() as ws:
        proc = subprocess.run([sys.executable, "-m", "neodev", "status"], cwd=ws,
                              env={**os.environ, "NEODEV_WORKSPACE": str(ws), "NO_COLOR": "1"},
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "project budget" in proc.stdout and "app" in proc.stdout


def test_the_check_sees_a_real_import_and_names_its_chain() -> None:
    """The control: a module that does need pydantic is caught, with the chain that got it."""
    CASES["import neodev.config.model"] = ("import", ["neodev.config.model"])
    try:
        found = loaded("import neodev.config.model")
    finally:
        del CASES["import neodev.config.model"]
    assert "pydantic" in found.modules
    assert found.chain("pydantic").endswith("neodev.config.model <- <main>")
