"""The details screen's ports table never cuts a host address.

Rendered as the screen renders it (rich, at a terminal's width): a container's address with
its declared host port and a process's own address stay whole however narrow the screen; the
other columns give way.
"""

from __future__ import annotations

import pytest
from rich.console import Console
from rich.table import Table

from neodev.protocol.units import PortDetail, UnitDetails, UnitRecord
from neodev.tui.screens import details_renderables

DETAILS = UnitDetails(
    name="postgres", kind="container", status=UnitRecord(name="postgres", kind="container"),
    spec={"image": "postgres:18-alpine"},
    ports=(PortDetail(container_port=5432, host_ip="127.0.0.1", declared_host_port=15432,
                      published_host_port=15432),
           PortDetail(container_port=9187, host_ip="127.0.0.1", declared_host_port=None,
                      published_host_port=49153),
           PortDetail(port=8080)))


def ports_text(width: int) -> str:
    [table] = [r for r in details_renderables(DETAILS)
               if isinstance(r, Table) and r.title == "ports"]
    console = Console(width=width, record=True, color_system=None)
    console.print(table)
    return console.export_text()


@pytest.mark.parametrize("width", [32, 60, 80, 120])
def test_host_addresses_are_whole_at_any_width(width: int) -> None:
    text = ports_text(width)
    assert "127.0.0.1:15432" in text
    assert "127.0.0.1:8080" in text  # a process listens on the host itself
    assert "127.0.0.1:any" in text  # no declared host port: Docker picks one


def test_a_wide_screen_shows_every_column() -> None:
    rows = [line.split("│")[1:-1] for line in ports_text(120).splitlines() if "│" in line]
    assert [[cell.strip() for cell in row] for row in rows] == [
        ["5432", "127.0.0.1:15432", "15432", "tcp"],
        ["9187", "127.0.0.1:any", "49153", "tcp"],
        ["8080", "127.0.0.1:8080", "-", "tcp"]]
