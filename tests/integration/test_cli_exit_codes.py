"""Exit codes the README promises, through the real CLI: 4 for a failed reload build and for a
unit action the unit's state refuses, 3 with nothing started when the Docker engine cannot be
reached."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.apps import WEB
from tests.integration.stack_workspace import (
    CLI_POLL,
    NeodevCLI,
    StackWorkspace,
    new_workspace,
)
from tests.ports import free_port
from tests.waiting import until

BUILD = ("import pathlib, sys\n"
         "if pathlib.Path('BROKEN').exists():\n"
         "    sys.exit('compile error: BROKEN is present')\n")


@pytest.fixture
def app_workspace(tmp_path: Path) -> Iterator[NeodevCLI]:
    root = tmp_path / "ws"
    app = root / "app"
    app.mkdir(parents=True)
    (root / "profiles").mkdir()
    (app / "build.py").write_text(BUILD)
    port, py = free_port(), sys.executable
    (root / "profiles" / "local.toml").write_text(textwrap.dedent(f"""\
        [processes.app]
        cwd = "{app}"
        command = ["{py}", "{WEB}"]
        env = {{ PORT = "{port}" }}
        port = {port}
        build = ["{py}", "build.py"]
        readiness = {{ http = "http://127.0.0.1:{port}/", interval = 0.2, start_period = 10 }}
        """))
    cli = NeodevCLI(StackWorkspace(root=root, project="ndx", ports={}))
    yield cli
    cli("stop")


def test_a_failed_reload_build_and_a_refused_unit_action_exit_4(app_workspace: NeodevCLI
                                                                ) -> None:
    cli = app_workspace
    started = cli("start", "--wait", "--timeout", "60")
    assert started.code == 0, started.err + started.out
    reloaded = cli("reload", "app")
    assert reloaded.code == 0, reloaded.err + reloaded.out
    assert "reloaded, ready" in reloaded.out

    (cli.ws.root / "app" / "BROKEN").write_text("x")
    failed = cli("reload", "app")
    assert failed.code == 4, failed.err + failed.out
    assert "build failed" in failed.out and "compile error: BROKEN is present" in failed.out

    again = cli("start", "app")  # `start` of what runs is not an error: nothing new starts
    assert again.code == 0
    refused = cli("restart", "nope")
    assert refused.code == 2 and "nope" in refused.err  # an unknown unit is a usage error
    stopped = cli("stop", "app")
    assert stopped.code == 0
    until(lambda: cli("status", "--json").out, "app stopped", 20,
          ok=lambda out: '"stopped"' in out, interval=CLI_POLL)
    not_running = cli("reload", "app")  # reloading a stopped unit is refused by its state
    assert not_running.code == 4, not_running.err + not_running.out
    assert "not running: start it first" in not_running.err


def test_an_unreachable_engine_exits_3_and_starts_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    extra = textwrap.dedent(f"""\

        [processes.witness]
        cwd = "{tmp_path}"
        command = ["{sys.executable}", "-c", "import pathlib; pathlib.Path('{marker}').touch()"]
        """)
    ws = new_workspace(tmp_path, {"db": free_port(), "metrics": free_port()})
    profile = ws.root / "profiles" / "local.toml"
    profile.write_text(profile.read_text() + extra)
    ws.env = {"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    cli = NeodevCLI(ws)
    try:
        result = cli("start", "--wait", "--timeout", "30")
        assert result.code == 3, result.err + result.out
        assert "no-engine.sock" in result.err  # says where the engine was looked for
        assert not marker.exists()  # nothing was started, not even the local process
    finally:
        cli("stop")
