"""The dashboard's list of every instance on this machine (`i`): read-only.

Read from the machine's registry (`neodev.instances.registry`) and the workspaces' daemon
locks, as `neodev instances` reads them (without the engine's figures: the dashboard never
talks to Docker). Acting on another instance is done in its own workspace.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from neodev.instances.registry import Registry, state_of

Row = tuple[str, str, str, str]
"""(name, state, ports, workspace)."""


def instance_rows(registry: Registry, current: str) -> list[Row]:
    """Every registered instance; this dashboard's own is marked."""
    rows: list[Row] = []
    for record in registry.entries():
        if record.profile_ports:
            ports = "profile's"
        elif record.port_block is None:
            ports = "block to come"
        else:
            ports = f"{record.port_block}-{record.port_block + max(record.port_count, 1) - 1}"
        name = f"{record.name} (this one)" if record.name == current else record.name
        rows.append((name, state_of(record), ports, record.workspace))
    return rows


class InstancesScreen(ModalScreen[None]):
    """The machine's instances, read-only."""

    BINDINGS = [Binding("escape,q,i", "app.pop_screen", "Close", id="instances.close")]

    def __init__(self, rows: list[Row]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        table = Table(title="instances on this machine", expand=True)
        for column in ("name", "state", "ports", "workspace"):
            table.add_column(column, no_wrap=column != "workspace")
        for row in self.rows:
            table.add_row(*row)
        with VerticalScroll(id="help-body"):
            yield Static(table)
            yield Static(Text("`neodev instances` adds URLs, database sizes and memory; "
                              "`neodev instances prune` removes what deleted workspaces left.",
                              style="dim"))
