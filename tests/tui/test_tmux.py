"""`neodev` in a real terminal: the command a person types, in a tmux pane of 120x40.

The dashboard starts the environment (a Postgres container and two processes, see
`workspace.py`), and everything is checked the way a person would: keys typed into the
terminal, the screen read back — and what the daemon's API says happened. Quitting leaves the
environment running, which the CLI confirms.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from neodev.client import DaemonClient, calls
from neodev.protocol import encode
from tests.integration.stack_workspace import NeodevCLI
from tests.tui.tmux import Tmux
from tests.tui.workspace import dashboard_workspace
from tests.waiting import until

pytestmark = pytest.mark.docker

START = 180.0
"""Seconds for the first start (the Postgres container initialises its data directory)."""
STEP = 15.0
"""Seconds for the screen to show the result of one key."""
API_RUNNING = r"^\s*api\s+proc\s+● running\s+healthy"


def unit_status(cli: NeodevCLI, name: str) -> dict[str, Any]:
    info = cli.daemon_info()
    assert info is not None, "no daemon status file"
    with DaemonClient(Path(info["socket"])) as client:
        units: list[dict[str, Any]] = encode(client.call(calls.status()).units)
    return next(u for u in units if u["name"] == name)


def table_rows(screen: str) -> list[str]:
    """The unit names in the order the table shows them."""
    lines = screen.splitlines()
    start = next((i for i, line in enumerate(lines)
                  if re.match(r"^\s*UNIT\s+KIND\s+STATE", line)), None)
    if start is None:  # not painted (yet), or covered
        return []
    names = []
    for line in lines[start + 1:]:
        match = re.match(r"^\s*(\S+)\s+(proc|ctr)\s", line)
        if match is None:
            break
        names.append(match.group(1))
    return names


@pytest.fixture
def terminal(tmp_path: Path, docker_client: object) -> Iterator[tuple[Tmux, NeodevCLI]]:
    ws, cli, _ = dashboard_workspace(tmp_path)
    tmux = Tmux(tmp_path, 120, 40)
    # No keymap of the developer's: the keys below are the defaults. No COLUMNS/LINES either:
    # pytest-xdist's workers carry 80/24, which the app would take over the pane's 120x40.
    env = {**{k: v for k, v in cli.env.items() if k not in ("COLUMNS", "LINES")},
           "NEODEV_KEYMAP": str(tmp_path / "no-keymap.toml")}
    try:
        tmux.start([sys.executable, "-m", "neodev"], ws.root, env)
        yield tmux, cli
    finally:
        tmux.kill()
        cli.cleanup()


def test_the_dashboard_in_a_real_terminal(terminal: tuple[Tmux, NeodevCLI]) -> None:
    tmux, cli = terminal
    screen = tmux.wait_for_text(API_RUNNING, START)
    assert "daemon ● connected" in screen

    # Help, and back.
    tmux.keys("?")
    tmux.wait_for_text(r"neodev — keys", STEP)
    tmux.keys("Escape")
    # Closed: neither its title nor its table of keys on screen (a repaint may show the table
    # before the title), and the units' table whole again.
    screen = tmux.wait_for("the help closed", lambda s: "neodev — keys" not in s
                           and "quit_stop" not in s
                           and {"db", "api", "chatty"} <= set(table_rows(s)), STEP)

    # Select api (the cursor starts on the first row) and make sure it is api: its details.
    rows = table_rows(screen)
    assert {"db", "api", "chatty"} <= set(rows), screen
    for _ in range(rows.index("api")):
        tmux.keys("Down")
    tmux.keys("d")
    tmux.wait_for_text(r"^\s*api — details", STEP)
    tmux.keys("Escape")
    tmux.wait_for_text(API_RUNNING, STEP)

    # Restart it by key: the daemon counts the restart, and the table shows it running again.
    before = unit_status(cli, "api")
    tmux.keys("r")
    until(lambda: unit_status(cli, "api"), "api restarted and ready", 60,
          ok=lambda api: api["restarts"] == before["restarts"] + 1 and api["ready"])
    assert unit_status(cli, "api")["started_at"] > before["started_at"]
    tmux.wait_for_text(API_RUNNING + rf".*\s{before['restarts'] + 1}\s", STEP)

    # Search every retained line: the match is far beyond the screen, the pane jumps to it.
    tmux.keys("/")
    tmux.wait_for_text(r"search the retained logs", STEP)
    tmux.type("needle-4242")
    tmux.keys("Enter")
    screen = tmux.wait_for_text(r"search 'needle-4242' 1/1", STEP)
    assert re.search(r"^\s*api\s+\| warming up 10 needle-4242", screen, re.MULTILINE), screen

    # Quit: the terminal is given back with a word on what keeps running.
    tmux.keys("q")
    screen = tmux.wait_for_text(r"the environment keeps running", STEP)
    assert "neodev stop" in screen
    assert "UNIT" not in screen  # the dashboard's screen is gone (alternate screen left)
    until(tmux.exit_status, "the dashboard's exit", STEP, ok=lambda status: status is not None)
    assert tmux.exit_status() == 0

    status = cli("status")
    assert status.code == 0, status.err
    assert re.search(r"^\s*api\s.*running", status.out, re.MULTILINE), status.out
    assert unit_status(cli, "api")["state"] == "running"
