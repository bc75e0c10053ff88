"""The dashboard's promises about keys: a user keymap rebinds by id (a broken one is reported
and ignored), `Q` stops everything and quits, `D` deletes volumes only after a confirmation that
names them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from textual.widgets import Static

from neodev.client.wire import AsyncClient, Connection
from neodev.paths import WorkspacePaths
from neodev.protocol import endpoints
from neodev.protocol.documents import DownReport
from neodev.protocol.endpoints import Request
from neodev.protocol.events import Event
from neodev.protocol.units import UnitState
from neodev.tui.app import KEPT, STOPPED
from neodev.tui.screens import ConfirmDown
from tests.tui.scripted_daemon import APP_NOW, ScriptedDaemon, shop_plan, shop_runners
from tests.tui.shop import WAIT, RecordingApp, Shop
from tests.waiting import until_async

R = TypeVar("R")
VOLUMES = ("shop_pgdata", "shop_prometheus-data")


class Intercepting:
    """The daemon's client, recording every call; `down` is answered here (the scripted daemon
    has no Docker engine to remove anything from)."""

    def __init__(self, inner: AsyncClient) -> None:
        self.inner = inner
        self.sent: list[Request[Any]] = []

    async def call(self, request: Request[R]) -> R:
        self.sent.append(request)
        if request.endpoint is endpoints.DOWN:
            report: Any = DownReport(containers=("shop-db-1",), volumes=VOLUMES)
            return report  # type: ignore[no-any-return]
        return await self.inner.call(request)

    def stream(self, request: Request[R]) -> AsyncIterator[R]:
        return self.inner.stream(request)

    def follow_events(self, *, units: list[str] | None = None,
                      types: list[str] | None = None) -> AsyncIterator[Event | Connection]:
        return self.inner.follow_events(units=units, types=types)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def downs(self) -> list[dict[str, Any] | None]:
        return [r.body for r in self.sent if r.endpoint is endpoints.DOWN]


@pytest.fixture
def volume_shop(home: Path) -> Iterator[Shop]:
    """The shop with named volumes (what `D` would delete)."""
    root = home / "shop"
    root.mkdir()
    plan = shop_plan(root).model_copy(update={"volumes": VOLUMES})
    with ScriptedDaemon(root, plan, shop_runners()) as daemon:
        yield Shop(daemon, root, failing=False)


async def test_a_user_keymap_rebinds_an_action_by_its_id(shop: Shop) -> None:
    keymap = shop.root / "keymap.toml"
    keymap.write_text('[keys]\nrestart = "ctrl+t"\n')
    app = RecordingApp(WorkspacePaths(shop.root), "local", client=shop.daemon.client(),
                       clock=lambda: APP_NOW, keymap=keymap)
    async with app.run_test(size=(120, 40)) as pilot:
        await shop.settle(pilot)
        app.table.move_cursor(row=1)  # api
        starts = shop.daemon.runners["api"].starts
        await pilot.press("ctrl+t")
        await until_async(lambda: shop.daemon.runners["api"].starts == starts + 1,
                          "the restart bound to ctrl+t", WAIT, sleep=pilot.pause)
        await pilot.press("r")  # the default key is not bound any more
        await pilot.pause(0.3)
        assert shop.daemon.runners["api"].starts == starts + 1
        assert not [n for n in app.notes if n[1] == "Keymap"]


async def test_a_broken_keymap_is_reported_and_the_defaults_stay(shop: Shop) -> None:
    keymap = shop.root / "keymap.toml"
    keymap.write_text("[keys\nrestart = \n")
    app = RecordingApp(WorkspacePaths(shop.root), "local", client=shop.daemon.client(),
                       clock=lambda: APP_NOW, keymap=keymap)
    async with app.run_test(size=(120, 40)) as pilot:
        await shop.settle(pilot)
        told = [n for n in app.notes if n[1] == "Keymap"]
        assert told and told[0][0] == "warning" and str(keymap) in told[0][2], app.notes
        app.table.move_cursor(row=1)
        starts = shop.daemon.runners["api"].starts
        await pilot.press("r")
        await until_async(lambda: shop.daemon.runners["api"].starts == starts + 1,
                          "the default restart key", WAIT, sleep=pilot.pause)


async def test_shift_q_stops_every_unit_and_the_daemon_then_quits(shop: Shop) -> None:
    app = shop.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await shop.settle(pilot)
        await pilot.press("Q")
        await until_async(lambda: app.return_value is not None, "the dashboard to end", WAIT,
                          sleep=pilot.pause)
    assert app.return_value == STOPPED
    assert app.exit_message == "stopped every unit and the daemon"
    assert shop.daemon.shutdowns == 1
    env = shop.daemon.env
    assert env is not None
    states = shop.daemon.call(lambda: {u.name: u.state for u in env.units()})
    assert set(states.values()) == {UnitState.STOPPED}, states


async def test_q_leaves_everything_running(shop: Shop) -> None:
    app = shop.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await shop.settle(pilot)
        await pilot.press("q")
        await until_async(lambda: app.return_value is not None, "the dashboard to end", WAIT,
                          sleep=pilot.pause)
    assert app.return_value == KEPT and shop.daemon.shutdowns == 0
    env = shop.daemon.env
    assert env is not None
    assert all(u.ready for u in shop.daemon.call(env.units))


async def test_shift_d_names_the_volumes_and_deletes_only_after_yes(volume_shop: Shop) -> None:
    client = Intercepting(volume_shop.daemon.client())
    app = RecordingApp(WorkspacePaths(volume_shop.root), "local", client=client,
                       clock=lambda: APP_NOW, keymap=volume_shop.root / "no-keymap.toml")
    async with app.run_test(size=(120, 40)) as pilot:
        await volume_shop.settle(pilot)
        await pilot.press("D")
        await until_async(lambda: isinstance(app.screen, ConfirmDown), "the question", WAIT,
                          sleep=pilot.pause)
        question = str(app.screen.query_one("#confirm-text", Static).render())
        assert all(volume in question for volume in VOLUMES), question
        await pilot.press("n")
        await until_async(lambda: not isinstance(app.screen, ConfirmDown), "the answer", WAIT,
                          sleep=pilot.pause)
        await pilot.pause(0.2)
        assert client.downs() == [] and app.return_value is None
        assert ("information", "down --volumes", "nothing deleted") in app.notes
        await pilot.press("D")
        await until_async(lambda: isinstance(app.screen, ConfirmDown), "the question again", WAIT,
                          sleep=pilot.pause)
        await pilot.press("y")
        await until_async(lambda: app.return_value is not None, "the dashboard to end", WAIT,
                          sleep=pilot.pause)
    assert client.downs() == [{"volumes": True}]
    assert app.return_value == STOPPED
    assert app.exit_message == f"removed the environment; deleted {', '.join(VOLUMES)}"
