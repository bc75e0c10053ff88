"""The log pane hides the lines that answer neodev's own probes; `p` shows them again.

The scripted shop (`shop.py`) whose api logs its probes' requests (`GET /health 200`, as an
app's access log does): the daemon marks those lines (the runner says which answer a probe)
and the pane asks for the others, live and in the backlog, until `p` (remappable by its id,
`probe_lines`) asks for everything; the log bar says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tui.scripted_daemon import ScriptedDaemon, shop_plan, shop_runners
from tests.tui.shop import OUTPUT, WAIT, Shop
from tests.tui.test_snapshots import _text
from tests.waiting import until_async

PROBE = "127.0.0.1 - - \"GET /health HTTP/1.1\" 200 -"


@pytest.fixture
def chatty_shop(home: Path) -> Iterator[Shop]:
    """The shop, with an api whose access log shows every probe."""
    root = home / "shop"
    root.mkdir()
    runners = shop_runners()
    runners["api"].probe_marker = "GET /health"
    with ScriptedDaemon(root, shop_plan(root), runners) as daemon:
        yield Shop(daemon, root, failing=False)


async def test_probe_lines_are_hidden_until_asked_for(chatty_shop: Shop) -> None:
    app = chatty_shop.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await chatty_shop.settle(pilot)
        chatty_shop.daemon.print([("api", PROBE), ("api", "GET /v1/orders 200 9ms"),
                                  ("api", PROBE)])
        await until_async(lambda: app.logview.records[-1].line == "GET /v1/orders 200 9ms",
                          "the app's own line", WAIT, sleep=pilot.pause)
        lines = [r.line for r in app.logview.records]
        assert PROBE not in lines
        assert "probe lines" not in _text(app.logpane.log_bar)
        await pilot.press("p")
        await until_async(lambda: PROBE in [r.line for r in app.logview.records],
                          "the probe lines, from the backlog", WAIT, sleep=pilot.pause)
        assert [r.line for r in app.logview.records][-3:] == [
            PROBE, "GET /v1/orders 200 9ms", PROBE]
        assert "with probe lines" in _text(app.logpane.log_bar)
        chatty_shop.daemon.print([("api", PROBE), ("api", OUTPUT[1][1])])
        await until_async(lambda: [r.line for r in app.logview.records][-2:] == [
            PROBE, OUTPUT[1][1]], "a live probe line, shown", WAIT, sleep=pilot.pause)
        await pilot.press("p")
        await until_async(lambda: PROBE not in [r.line for r in app.logview.records],
                          "the probe lines hidden again", WAIT, sleep=pilot.pause)
        assert "GET /v1/orders 200 9ms" in [r.line for r in app.logview.records]
