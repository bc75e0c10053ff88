"""A snapshot replaces what the dashboard shows: after a resync (a daemon that restarted with
another profile, say) a unit the snapshot does not hold leaves the table."""

from __future__ import annotations

from neodev.client import calls
from neodev.protocol import Snapshot, UnitState
from tests.tui.shop import WAIT, Shop
from tests.waiting import until_async


async def test_a_unit_missing_from_a_snapshot_leaves_the_table(shop: Shop) -> None:
    app = shop.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await shop.settle(pilot)
        assert [key.value for key in app.table.rows] == ["db", "api", "worker"]
        assert app.client is not None  # the worker stops, so no later event brings it back
        await app.client.call(calls.act("worker", "stop"))
        await until_async(lambda: app.view.units["worker"].state is UnitState.STOPPED,
                          "the worker stopped", WAIT, sleep=pilot.pause)
        kept = tuple(app.view.units[name] for name in ("db", "api"))
        app.on_stream_item(Snapshot(seq=app.view.seq + 1, ts=0.0, instance="restarted",
                                    units=kept))
        await until_async(lambda: len(app.table.rows) == 2, "the worker's row to go", WAIT,
                          sleep=pilot.pause)
        assert [key.value for key in app.table.rows] == ["db", "api"]
        assert list(app.view.units) == ["db", "api"]
