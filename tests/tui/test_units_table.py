"""The units table on its own: rows keyed by unit, cells updated in place, columns that grow."""

from __future__ import annotations

from dataclasses import replace

from textual.app import App, ComposeResult

from neodev.protocol import Health, UnitRecord, UnitState
from neodev.tui.units import UnitsTable

RUNNING = UnitRecord("api", "process", UnitState.RUNNING, Health.HEALTHY, ready=True,
                     started_at=1000.0)


class TableApp(App[None]):
    """Only the table, with a fixed sparkline."""

    def compose(self) -> ComposeResult:
        yield UnitsTable(lambda unit: "▁▂█", id="units")


def row_text(table: UnitsTable) -> str:
    """The first unit's row as the table draws it now."""
    return table.render_line(1).text  # line 0 is the header


async def test_a_cell_that_grows_is_drawn_whole_once_the_columns_are_wider() -> None:
    app = TableApp()
    async with app.run_test(size=(160, 10)) as pilot:
        table = app.query_one(UnitsTable)
        table.show(RUNNING, now=1060.0)
        await pilot.pause()
        assert "1m00s" in row_text(table)
        # The stats arrive: wider CPU and memory cells. A frame drawn before the table
        # measured its columns again (the screen may refresh first) must not stay on screen.
        table.show(replace(RUNNING, cpu_percent=12.5, memory_bytes=300 * 1024 ** 2), now=1061.0)
        stale = row_text(table)
        await pilot.pause()
        drawn = row_text(table)
        assert "12.5% ▁▂█" in drawn and "300.0MiB" in drawn, (stale, drawn)
