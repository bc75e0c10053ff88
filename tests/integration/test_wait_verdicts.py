"""`start --wait` through the real CLI and daemon: every failure kind, with its exit code.

Processes are tiny shell and Python programs written by the test; the missing image is a real
image lookup on the real engine (a registry on a closed port, so the pull fails at once).
`--logs` prints the units' lines while waiting; `--json` carries the kinds; a failing verdict
with `--report-on-failure` leaves a report.
"""

from __future__ import annotations

import json
import socket
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.stack_workspace import NeodevCLI, StackWorkspace
from tests.ports import free_port

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NeodevCLI]:
    root = tmp_path_factory.mktemp("verdicts") / "ws"
    (root / "profiles").mkdir(parents=True)
    (root / "compose").mkdir()
    silent, held = free_port(), free_port()
    py = sys.executable
    (root / "compose" / "ghost.yml").write_text(textwrap.dedent("""\
        services:
          ghost:
            image: 127.0.0.1:9/neodev-test/no-such-image:1
        """))
    (root / "profiles" / "local.toml").write_text(textwrap.dedent(f"""\
        [project]
        name = "ndv{silent}"
        compose = ["../compose/ghost.yml"]

        [processes.dies]
        cwd = "{root}"
        command = ["sh", "-c", "echo starting up; echo boom; exit 3"]
        restart = "no"

        [processes.loops]
        cwd = "{root}"
        command = ["sh", "-c", "echo again; exit 1"]
        restart = "on-failure"
        backoff = {{ initial = 0.05, factor = 1, maximum = 0.05 }}

        [processes.slow]
        cwd = "{root}"
        command = ["sleep", "60"]
        readiness = {{ http = "http://127.0.0.1:{silent}/health", start_period = 60 }}

        [processes.sick]
        cwd = "{root}"
        command = ["sleep", "60"]
        readiness = {{ http = "http://127.0.0.1:{silent}/health", interval = 0.2, retries = 2 }}

        [processes.holder]
        cwd = "{root}"
        command = ["{py}", "-c", "import time; time.sleep(60)"]
        port = {held}

        [processes.nowhere]
        cwd = "{root}/no-such-dir"
        command = ["true"]
        """))
    cli = NeodevCLI(StackWorkspace(root=root, project=f"ndv{silent}", ports={"held": held}))
    yield cli
    cli.cleanup()


@pytest.mark.parametrize(("unit", "kind", "code", "says"), [
    ("dies", "exited", 10, "exited with code 3; last output: boom"),
    ("loops", "crash_loop", 11, "crash loop (3 failures in a row"),
    ("sick", "unhealthy", 12, "unhealthy: GET http://127.0.0.1:"),
    ("nowhere", "start_failed", 7, "working directory"),
    ("ghost", "image_missing", 13, "is not available locally and pulling it failed"),
])
def test_each_failure_has_its_kind_and_exit_code(cli: NeodevCLI, unit: str, kind: str,
                                                 code: int, says: str) -> None:
    result = cli("start", "--wait", "--timeout", "30", unit)
    assert result.code == code, result.out + result.err
    first = result.out.splitlines()[0]
    assert first.startswith(f"FAIL {unit}: ") and first.endswith(f"[{kind}]")
    assert says in result.out
    assert f"— {kind}, exit {code}" in result.err


def test_a_timeout_shows_the_probe_s_last_answer_in_json(cli: NeodevCLI) -> None:
    result = cli("start", "--wait", "--timeout", "2", "--json", "slow")
    assert result.code == 9, result.out + result.err
    answer = json.loads(result.out)
    assert answer["ok"] is False and answer["failure"] == "timeout"
    [verdict] = answer["units"]
    assert verdict["kind"] == "timeout" and verdict["reason"].startswith("not ready after 2s")
    assert verdict["last_probe"].startswith("GET http://127.0.0.1:")
    assert "in start period" in verdict["last_probe"]


def test_a_taken_port_is_a_verdict_and_nothing_starts(cli: NeodevCLI) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", cli.ws.ports["held"]))
        held.listen()
        result = cli("start", "--wait", "--json", "holder")
    assert result.code == 14, result.out + result.err
    [verdict] = json.loads(result.out)["units"]
    assert verdict["unit"] == "holder" and verdict["kind"] == "port_taken"
    assert f"127.0.0.1:{cli.ws.ports['held']}/tcp (holder): already in use" in verdict["reason"]


def test_logs_stream_while_waiting_then_the_verdict(cli: NeodevCLI, tmp_path: Path) -> None:
    report = tmp_path / "report.zip"
    result = cli("start", "--wait", "--logs", "--timeout", "30", "--report-on-failure",
                 str(report), "dies")
    assert result.code == 10, result.out + result.err
    lines = result.out.splitlines()
    streamed = [i for i, line in enumerate(lines) if line.startswith("dies") and "| " in line]
    verdict = next(i for i, line in enumerate(lines) if line.startswith("FAIL dies"))
    assert streamed and max(streamed) < verdict  # the lines came first, prefixed
    assert any(lines[i].endswith("| starting up") for i in streamed)
    assert f"report written to {report}" in result.err
    with zipfile.ZipFile(report) as archive:
        wait = json.loads(archive.read("wait.json"))
        assert wait["failure"] == "exited"
        assert b"boom" in archive.read("logs/dies.ndjson")


def test_logs_and_report_on_failure_need_wait(cli: NeodevCLI) -> None:
    result = cli("start", "--logs", "dies")
    assert result.code == 2 and "--logs and --report-on-failure go with --wait" in result.err
