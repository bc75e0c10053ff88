"""`neodev logs` hides the lines that answer neodev's own probes; `--probes` shows them.

A real process (Python's http.server, logging every request the way the demo apps do, with no
User-Agent in the line) probed by the real daemon over http: its `GET /health` lines are kept
and marked, left out of `logs` and `logs -f` unless `--probes` asks; a person's own request
to the app is shown, and so is the app's own output.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.apps import WEB
from tests.integration.lines import LineReader
from tests.integration.stack_workspace import NeodevCLI, StackWorkspace
from tests.ports import free_port


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[tuple[NeodevCLI, int]]:
    root = tmp_path / "ws"
    (root / "profiles").mkdir(parents=True)
    port = free_port()
    (root / "profiles" / "local.toml").write_text(textwrap.dedent(f"""\
        [project]
        name = "ndprobe{port}"

        [processes.web]
        cwd = "{root}"
        command = ["{sys.executable}", "{WEB}", "--log-requests", "--banner", "web is up"]
        env = {{ PORT = "{port}" }}
        port = {port}
        readiness = {{ http = "http://127.0.0.1:{port}/health", interval = 1 }}
        """))
    cli = NeodevCLI(StackWorkspace(root=root, project=f"ndprobe{port}", ports={"web": port}))
    yield cli, port
    cli.cleanup()


def test_logs_leave_out_the_probe_lines_unless_asked(cli: tuple[NeodevCLI, int]) -> None:
    run, port = cli
    started = run("start", "--wait", "--timeout", "30", "web")
    assert started.code == 0, started.out + started.err
    httpx.get(f"http://127.0.0.1:{port}/items", trust_env=False, timeout=5)
    everything = run("logs", "--probes", "web")
    assert '"GET /health HTTP/1.1" 200' in everything.out, everything.out
    assert '"GET /items HTTP/1.1" 200' in everything.out
    shown = run("logs", "web")
    assert "web is up" in shown.out and '"GET /items HTTP/1.1" 200' in shown.out
    assert "/health" not in shown.out, shown.out

    with subprocess.Popen([sys.executable, "-m", "neodev", "logs", "-f", "web"],
                          cwd=run.ws.root, env=run.env, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True) as follower:
        lines = LineReader(follower.stdout)
        try:
            assert lines.wait_for("web is up", 20), lines.seen
            probes_before = run("logs", "--probes", "web").out.count("/health")
            time.sleep(6)  # a healthy unit is probed every 5 s: at least one probe meanwhile
            httpx.get(f"http://127.0.0.1:{port}/orders", trust_env=False, timeout=5)
            assert lines.wait_for("GET /orders", 20), lines.seen
            assert run("logs", "--probes", "web").out.count("/health") > probes_before
            assert not [line for line in lines.seen if "/health" in line], lines.seen
        finally:
            follower.terminate()
