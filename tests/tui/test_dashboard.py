"""The dashboard against a real daemon with real units (App.run_test with Pilot).

The app starts the environment itself (as `neodev` does when nothing runs), then every check
goes through what a person sees (the table, the log pane, the screens) and what the daemon's
API says happened.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from neodev.client import DaemonClient, calls
from neodev.paths import WorkspacePaths
from neodev.protocol import UnitState, encode
from neodev.tui.app import KEPT, NeodevApp
from neodev.tui.logview import CURRENT_MATCH
from neodev.tui.screens import DetailsScreen
from tests.integration.stack_workspace import NeodevCLI
from tests.tui.workspace import SECRET, dashboard_workspace

pytestmark = pytest.mark.docker


async def until(pilot: Pilot[object], condition: Callable[[], bool], timeout: float,
                what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        await pilot.pause(0.1)


@pytest.fixture
async def dashboard(tmp_path: Path, docker_client: object
                    ) -> AsyncIterator[tuple[NeodevApp, Pilot[object], NeodevCLI]]:
    ws, cli, _ = dashboard_workspace(tmp_path)
    app = NeodevApp(WorkspacePaths(ws.root), "local", keymap=tmp_path / "no-keymap.toml")
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.view.units.get("api") is not None
                        and app.view.units["api"].ready, 120, "api ready")
            yield app, pilot, cli
    finally:
        cli.cleanup()


def api_status(cli: NeodevCLI, name: str) -> dict:
    info = cli.daemon_info()
    assert info is not None
    with DaemonClient(Path(info["socket"])) as client:
        return encode(client.call(calls.status()).unit(name))


def select(app: NeodevApp, name: str) -> None:
    app.table.move_cursor(row=app.table.get_row_index(name))


def cell(app: NeodevApp, name: str, column: str) -> str:
    return str(app.table.get_cell(name, column))


async def test_a_state_change_reaches_the_table_and_restart_by_key_restarts(dashboard) -> None:
    app, pilot, cli = dashboard
    assert {"db", "api", "chatty"} <= set(app.view.units)
    assert "running" in cell(app, "api", "state")
    assert app.view.connected and app.view.docker_state() == "ok"

    # A change made elsewhere (the CLI) reaches the table through the event stream.
    assert cli("stop", "chatty").code == 0
    await until(pilot, lambda: "stopped" in cell(app, "chatty", "state"), 20, "chatty stopped")

    before = api_status(cli, "api")
    select(app, "api")
    await pilot.press("r")
    await until(pilot, lambda: api_status(cli, "api")["restarts"] == before["restarts"] + 1
                and api_status(cli, "api")["ready"], 30, "api restarted and ready")
    assert api_status(cli, "api")["started_at"] > before["started_at"]
    await until(pilot, lambda: app.view.units["api"].restarts == before["restarts"] + 1, 10,
                "the table shows the restart")
    assert cell(app, "api", "restarts") == str(before["restarts"] + 1)


async def test_search_finds_and_highlights_a_line_beyond_the_screen(dashboard) -> None:
    app, pilot, _ = dashboard
    await pilot.press("slash")
    await pilot.press(*"needle-4242")
    await pilot.press("enter")
    await until(pilot, lambda: bool(app.logpane.matches), 10, "the search result")
    target = app.logpane.matches[-1]
    assert app.logview.current_match == target
    await pilot.pause(0.3)
    rows = app.logview.visible_text()
    assert any("warming up 10 needle-4242" in row for row in rows), rows
    y = next(i for i, row in enumerate(rows) if "needle-4242" in row)
    styles = [segment.style for segment in app.logview.render_line(y) if segment.style]
    assert any(s.bgcolor == CURRENT_MATCH.bgcolor for s in styles)  # highlighted
    await pilot.press("end")
    assert not app.logpane.history


async def test_the_unit_filter_hides_other_units(dashboard) -> None:
    app, pilot, _ = dashboard
    await until(pilot, lambda: any(r.unit == "chatty" for r in app.logview.records), 20,
                "chatty's lines")
    select(app, "api")
    await pilot.press("f")
    await until(pilot, lambda: bool(app.logview.records)
                and all(r.unit == "api" for r in app.logview.records), 20, "only api's lines")
    await pilot.pause(0.5)  # chatty keeps printing meanwhile
    assert {r.unit for r in app.logview.records} == {"api"}
    await pilot.press("e", "e")  # errors only
    await until(pilot, lambda: bool(app.logview.records)
                and all(r.level == "error" for r in app.logview.records), 20, "errors only")


async def test_details_show_the_environment_masked(dashboard) -> None:
    app, pilot, _ = dashboard
    select(app, "api")
    await pilot.press("d")
    await until(pilot, lambda: isinstance(app.screen, DetailsScreen), 10, "the details")
    screen = app.screen
    assert isinstance(screen, DetailsScreen)
    text = str(encode(screen.details))
    assert SECRET not in text
    assert screen.details.spec["env"]["API_TOKEN"] == "********"
    assert [t.what for t in screen.details.timeline][:2] == [
        "waiting for dependencies", "dependencies met"]
    await pilot.press("escape")
    await until(pilot, lambda: not isinstance(app.screen, DetailsScreen), 5, "back")
    assert all(SECRET not in r.line for r in app.logview.records)


async def test_quit_leaves_the_units_running(dashboard) -> None:
    app, pilot, cli = dashboard
    await pilot.press("q")
    await pilot.pause(0.2)
    assert app.return_value == KEPT
    assert "neodev stop" in app.exit_message
    assert api_status(cli, "api")["state"] == str(UnitState.RUNNING)
