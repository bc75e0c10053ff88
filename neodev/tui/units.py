"""The units table: one row per unit, updated cell by cell as records arrive.

Rows are keyed by unit name and cells updated in place (`update_cell`), so the cursor stays
where the person put it. State has a symbol and a colour; CPU carries a sparkline of the last
minute; the reason column says why a unit is where it is (waiting for X, pulling, crash loop).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual.widgets import DataTable

from neodev.present import (
    format_bytes,
    format_cpu,
    format_duration,
    reload_short,
    state_label,
    uptime,
)
from neodev.protocol.units import Health, UnitRecord, UnitState

STATE_LOOK: dict[UnitState, tuple[str, str]] = {
    UnitState.PENDING: ("○", "dim"),
    UnitState.STARTING: ("◔", "yellow"),
    UnitState.RUNNING: ("●", "green"),
    UnitState.STOPPING: ("◑", "yellow"),
    UnitState.STOPPED: ("■", "dim"),
    UnitState.EXITED: ("◼", "white"),
    UnitState.CRASHED: ("✖", "red"),
    UnitState.BACKOFF: ("↻", "red"),
    UnitState.UNAVAILABLE: ("⊘", "yellow"),
}
HEALTH_LOOK = {Health.HEALTHY: "green", Health.UNHEALTHY: "red", Health.STARTING: "yellow",
               Health.NONE: "dim"}
COLUMNS = (("unit", "UNIT"), ("kind", "KIND"), ("state", "STATE"), ("health", "HEALTH"),
           ("ports", "PORTS/URLS"), ("uptime", "UP"), ("restarts", "RST"), ("cpu", "CPU"),
           ("mem", "MEM"), ("reload", "RELOAD"), ("reason", "WHY"))


def state_text(record: UnitRecord) -> Text:
    symbol, style = STATE_LOOK[record.state]
    label = state_label(record, loop_mark=" loop")
    if record.crash_loop:
        style = "bold red"
    if record.ready:
        style = "bold green"
    return Text(f"{symbol} {label}", style=style)


def reload_text(record: UnitRecord) -> Text:
    last = record.last_reload
    style = ("dim" if last is None else "green" if last.outcome == "ok"
             else "bold red" if last.outcome == "build_failed" else "red")
    return Text(reload_short(last), style=style)


class UnitsTable(DataTable[Text | str]):
    """The units, one row each, keyed by name."""

    def __init__(self, sparkline: Callable[[str], str], *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._sparkline = sparkline
        self._widths_changed = False
        """Cells that may widen their column were updated since the table last idled."""

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    @property
    def selected(self) -> str | None:
        """The unit under the cursor."""
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return None if row_key.value is None else str(row_key.value)

    def show(self, record: UnitRecord, now: float | None = None) -> None:
        """Add or update the unit's row."""
        now = time.time() if now is None else now
        cells = self._cells(record, now)
        if record.name not in self.rows:
            self.add_row(*cells.values(), key=record.name)
            return
        for key, value in cells.items():
            self.update_cell(record.name, key, value, update_width=key != "reason")
        self._widths_changed = True

    def on_idle(self) -> None:
        # DataTable measures its columns again when it idles (right after this handler) but
        # keeps the rows it drew before at the old widths until some cell changes again: a
        # wider cell stays cut (for good, once nothing runs and no uptime ticks). Textual 8.2;
        # the same symptom as textual#3533. Once the widths are new, drop what was drawn.
        if self._widths_changed:
            self._widths_changed = False
            self.call_next(self.notify_style_update)

    def tick(self, records: list[UnitRecord], now: float | None = None) -> None:
        """Refresh the time-dependent cells (uptime) of running units."""
        now = time.time() if now is None else now
        for record in records:
            if record.started_at is not None and record.name in self.rows:
                self.update_cell(record.name, "uptime",
                                 format_duration(uptime(record, now)))

    def _cells(self, record: UnitRecord, now: float) -> dict[str, Text | str]:
        cpu = format_cpu(record.cpu_percent)
        spark = self._sparkline(record.name)
        return {
            "unit": Text(record.name, style="bold"),
            "kind": "ctr" if record.kind == "container" else "proc",
            "state": state_text(record),
            "health": Text(str(record.health), style=HEALTH_LOOK[record.health]),
            "ports": ", ".join(record.endpoints) or "-",
            "uptime": format_duration(uptime(record, now)),
            "restarts": str(record.restarts),
            "cpu": Text(f"{cpu} {spark}".strip()),
            "mem": format_bytes(record.memory_bytes),
            "reload": reload_text(record),
            "reason": Text(record.reason[:160], style="red" if record.crash_loop
                           or record.start_failed else "dim"),
        }
