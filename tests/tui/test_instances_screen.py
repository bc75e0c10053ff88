"""The dashboard says which instance it shows, and lists the machine's others (`i`)."""

from __future__ import annotations

from pathlib import Path

from textual.app import App

from neodev.instances.registry import InstanceRecord, Registry, write_instance
from neodev.paths import WorkspacePaths
from neodev.protocol.documents import InstanceInfo, PortAssignment
from neodev.tui.bar import header_text
from neodev.tui.instances import InstancesScreen, instance_rows
from neodev.tui.view import EnvironmentView


def test_the_header_names_the_instance_and_its_ports() -> None:
    view = EnvironmentView()
    block = InstanceInfo(name="feature-x", profile_ports=False, port_block=20000,
                         ports=(PortAssignment("db", 5432, 20000),
                                PortAssignment("app", 8080, 20001)))
    text = header_text(view, "local", "/w", None, block).plain
    assert text.startswith(" feature-x  local · docker") and "· ports 20000-20001 · /w" in text
    first = header_text(view, "local", "/w", None, InstanceInfo(name="neotool")).plain
    assert first.startswith(" neotool  local · docker") and "ports" not in first
    assert header_text(view, "local", "/w", None).plain.startswith(" neodev  local")


async def test_the_instances_screen_lists_every_registered_instance(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry")
    here, gone = tmp_path / "here", tmp_path / "gone"
    here.mkdir()
    mine = InstanceRecord("neotool", str(here.resolve()), profile_project="neotool")
    write_instance(WorkspacePaths(here), mine)
    with registry.locked():
        registry.put(mine)
        registry.put(InstanceRecord("old", str(gone), profile_ports=False, port_block=20100,
                                    port_count=3))
    rows = instance_rows(registry, "neotool")
    assert rows == [("neotool (this one)", "stopped", "profile's", str(here.resolve())),
                    ("old", "orphaned", "20100-20102", str(gone))]

    app: App[None] = App()
    async with app.run_test(size=(100, 20)) as pilot:
        await app.push_screen(InstancesScreen(rows))
        await pilot.pause()
        shown = app.export_screenshot().replace("&#160;", " ")
        assert "orphaned" in shown and "20100-20102" in shown and "neotool (this one)" in shown
        await pilot.press("escape")
        assert not isinstance(app.screen, InstancesScreen)
