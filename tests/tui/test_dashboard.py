"""The dashboard against a real daemon with real units (App.run_test with Pilot).

The app starts the environment itself (as `neodev` does when nothing runs), then every check
goes through what a person sees (the table, the log pane, the screens) and what the daemon's
API says happened.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
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
from tests.waiting import until_async

pytestmark = pytest.mark.docker


@pytest.fixture
async def dashboard(tmp_path: Path, docker_client: object
                    ) -> AsyncIterator[tuple[NeodevApp, Pilot[object], NeodevCLI]]:
    ws, cli, _ = dashboard_workspace(tmp_path)
    app = NeodevApp(WorkspacePaths(ws.root), "local", keymap=tmp_path / "no-keymap.toml")
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await until_async(lambda: app.view.units.get("api") is not None
                              and app.view.units["api"].ready, "api ready", 120,
                              sleep=pilot.pause)
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
    await until_async(lambda: "stopped" in cell(app, "chatty", "state"), "chatty stopped", 20,
                      sleep=pilot.pause)

    before = api_status(cli, "api")
    select(app, "api")
    await pilot.press("r")
    await until_async(lambda: api_status(cli, "api"), "api restarted and ready", 30,
                      ok=lambda api: api["restarts"] == before["restarts"] + 1 and api["ready"],
                      sleep=pilot.pause)
    assert api_status(cli, "api")["started_at"] > before["started_at"]
    await until_async(lambda: app.view.units["api"].restarts == before["restarts"] + 1,
                      "the table shows the restart", 10, sleep=pilot.pause)
    assert cell(app, "api", "restarts") == str(before["restarts"] + 1)


async def test_search_finds_and_highlights_a_line_beyond_the_screen(dashboard) -> None:
    app, pilot, _ = dashboard
    await pilot.press("slash")
    await pilot.press(*"needle-4242")
    await pilot.press("enter")
    await until_async(lambda: bool(app.logpane.matches), "the search result", 10,
                      sleep=pilot.pause)
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
    await until_async(lambda: any(r.unit == "chatty" for r in app.logview.records),
                      "chatty's lines", 20, sleep=pilot.pause)
    select(app, "api")
    await pilot.press("f")
    await until_async(lambda: bool(app.logview.records)
                      and all(r.unit == "api" for r in app.logview.records), "only api's lines",
                      20, sleep=pilot.pause)
    await pilot.pause(0.5)  # chatty keeps printing meanwhile
    assert {r.unit for r in app.logview.records} == {"api"}
    await pilot.press("e", "e")  # errors only
    await until_async(lambda: bool(app.logview.records)
                      and all(r.level == "error" for r in app.logview.records), "errors only",
                      20, sleep=pilot.pause)


async def test_details_show_the_environment_masked(dashboard) -> None:
    app, pilot, _ = dashboard
    select(app, "api")
    await pilot.press("d")
    await until_async(lambda: isinstance(app.screen, DetailsScreen), "the details", 10,
                      sleep=pilot.pause)
    screen = app.screen
    assert isinstance(screen, DetailsScreen)
    text = str(encode(screen.details))
    assert SECRET not in text
    assert screen.details.spec["env"]["API_TOKEN"] == "********"
    assert [t.what for t in screen.details.timeline][:2] == [
        "waiting for dependencies", "dependencies met"]
    await pilot.press("escape")
    await until_async(lambda: not isinstance(app.screen, DetailsScreen), "back", 5,
                      sleep=pilot.pause)
    assert all(SECRET not in r.line for r in app.logview.records)


async def test_quit_leaves_the_units_running(dashboard) -> None:
    app, pilot, cli = dashboard
    await pilot.press("q")
    await pilot.pause(0.2)
    assert app.return_value == KEPT
    assert "neodev stop" in app.exit_message
    assert api_status(cli, "api")["state"] == str(UnitState.RUNNING)
